namespace LibKv.Cli.Tests;

/// <summary>Environment variables are process-wide, so these tests run alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(EnvironmentTests), DisableParallelization = true)]
public sealed class EnvironmentCollection;

[Collection(nameof(EnvironmentTests))]
public sealed class EnvironmentTests
{
    [Fact]
    public async Task Backend_and_endpoints_come_from_the_environment_when_not_given()
    {
        await using var space = await SharedSpace.OpenAsync();
        await space.Holder.PutAsync("from-env", "yes"u8.ToArray());
        using (Variables.Set(("LIBKV_BACKEND", "mock"), ("LIBKV_ENDPOINTS", space.Name)))
        {
            var cli = await Cli.RunAsync("get", "from-env");

            Assert.Equal(0, cli.ExitCode);
            Assert.Equal(["yes"], cli.Out.Lines);
        }
    }

    [Fact]
    public async Task Options_override_the_environment()
    {
        using (Variables.Set(("LIBKV_BACKEND", "env-backend"), ("LIBKV_ENDPOINTS", null)))
        {
            var fromEnv = await Cli.RunAsync("get", "a");
            var fromOption = await Cli.RunAsync("get", "a", "--backend", "memory");

            Assert.Contains("unknown backend 'env-backend'", fromEnv.SingleErrorLine(), StringComparison.Ordinal);
            Assert.Equal(2, fromOption.ExitCode);
        }
    }

    [Fact]
    public void Secrets_come_from_the_environment_so_they_need_not_show_in_ps()
    {
        using (Variables.Set(("LIBKV_TOKEN", "t0k"), ("LIBKV_USERNAME", "app"), ("LIBKV_PASSWORD", "s3cret")))
        {
            var connection = new ConnectionOptions();
            var root = new System.CommandLine.RootCommand();
            connection.AddTo(root);
            var fromEnv = connection.Read(root.Parse(["--backend", "etcd"]));
            Assert.Equal(("t0k", "app", "s3cret"), (fromEnv.Token, fromEnv.Username, fromEnv.Password));
            var fromFlags = connection.Read(root.Parse(["--token", "x", "--username", "y", "--password", "z"]));
            Assert.Equal(("x", "y", "z"), (fromFlags.Token, fromFlags.Username, fromFlags.Password));
        }
    }

    [Fact]
    public async Task Tls_flags_reach_the_store_options()
    {
        var connection = new ConnectionOptions();
        var root = new System.CommandLine.RootCommand();
        connection.AddTo(root);
        var options = connection.Read(root.Parse(["--ca-file", "ca.pem", "--cert-file", "c.pem", "--key-file", "k.pem"]));
        Assert.True(options.Tls.Enabled);
        Assert.Equal(("ca.pem", "c.pem", "k.pem", false), (options.Tls.CaFile, options.Tls.CertificateFile, options.Tls.KeyFile, options.Tls.InsecureSkipVerify));
        Assert.False(connection.Read(root.Parse([])).Tls.Enabled);
        Assert.True(connection.Read(root.Parse(["--insecure"])).Tls.InsecureSkipVerify);

        var cli = await Cli.RunAsync("get", "k", "--backend", "etcd", "--endpoints", "127.0.0.1:1", "--ca-file", "/nowhere/ca.pem");
        Assert.Contains("/nowhere/ca.pem", cli.SingleErrorLine(), StringComparison.Ordinal);
    }

    private sealed class Variables : IDisposable
    {
        private readonly (string Name, string? Value)[] _saved;

        private Variables((string Name, string? Value)[] saved) => _saved = saved;

        public static Variables Set(params (string Name, string? Value)[] values)
        {
            var saved = values.Select(v => (v.Name, Environment.GetEnvironmentVariable(v.Name))).ToArray();
            foreach (var (name, value) in values)
            {
                Environment.SetEnvironmentVariable(name, value);
            }

            return new Variables(saved);
        }

        public void Dispose()
        {
            foreach (var (name, value) in _saved)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
    }
}
