using System.CommandLine;

namespace LibKv.Cli;

/// <summary>The global options that say which store to talk to; <c>LIBKV_BACKEND</c> and <c>LIBKV_ENDPOINTS</c> give defaults.</summary>
internal sealed class ConnectionOptions
{
    public const string BackendVariable = "LIBKV_BACKEND";
    public const string EndpointsVariable = "LIBKV_ENDPOINTS";
    public const string TokenVariable = "LIBKV_TOKEN";
    public const string UsernameVariable = "LIBKV_USERNAME";
    public const string PasswordVariable = "LIBKV_PASSWORD";

    public Option<string> Backend { get; } = new("--backend", "-b")
    {
        Description = $"Backend: memory, consul, etcd or zookeeper (env {BackendVariable}; default memory).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(BackendVariable) is { Length: > 0 } b ? b : "memory",
        Recursive = true,
    };

    public Option<string?> Endpoints { get; } = new("--endpoints", "-e")
    {
        Description = $"Comma-separated host:port list (env {EndpointsVariable}); for memory, a data-space name.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(EndpointsVariable),
        Recursive = true,
    };

    public Option<string?> Root { get; } = new("--root")
    {
        Description = "A key prefix every key lives under.",
        Recursive = true,
    };

    public Option<string?> Token { get; } = new("--token")
    {
        Description = $"Consul ACL token (env {TokenVariable}, which keeps it out of ps).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(TokenVariable),
        Recursive = true,
    };

    public Option<string?> Username { get; } = new("--username")
    {
        Description = $"etcd user or ZooKeeper digest user (env {UsernameVariable}).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(UsernameVariable),
        Recursive = true,
    };

    public Option<string?> Password { get; } = new("--password")
    {
        Description = $"etcd password or ZooKeeper digest password (env {PasswordVariable}, which keeps it out of ps).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(PasswordVariable),
        Recursive = true,
    };

    public Option<string?> CaFile { get; } = new("--ca-file")
    {
        Description = "PEM file of the CA that signs the servers; turns TLS on.",
        Recursive = true,
    };

    public Option<string?> CertFile { get; } = new("--cert-file")
    {
        Description = "PEM client certificate for mutual TLS (with --key-file); turns TLS on.",
        Recursive = true,
    };

    public Option<string?> KeyFile { get; } = new("--key-file")
    {
        Description = "PEM private key of --cert-file.",
        Recursive = true,
    };

    public Option<bool> Insecure { get; } = new("--insecure")
    {
        Description = "TLS without checking the server certificate (tests only); turns TLS on.",
        Recursive = true,
    };

    public Option<TimeSpan?> Timeout { get; } = Durations.NullableOption("--timeout", "Request timeout, e.g. 5s (default 10s).");

    public void AddTo(Command root)
    {
        Timeout.Recursive = true;
        root.Options.Add(Backend);
        root.Options.Add(Endpoints);
        root.Options.Add(Root);
        root.Options.Add(Token);
        root.Options.Add(Username);
        root.Options.Add(Password);
        root.Options.Add(Timeout);
        root.Options.Add(CaFile);
        root.Options.Add(CertFile);
        root.Options.Add(KeyFile);
        root.Options.Add(Insecure);
    }

    public string BackendOf(ParseResult parseResult) => parseResult.GetValue(Backend) ?? "memory";

    /// <summary>The store options the command line asks for.</summary>
    public StoreOptions Read(ParseResult parseResult)
    {
        var options = new StoreOptions
        {
            Backend = BackendOf(parseResult),
            Endpoints = SplitEndpoints(parseResult.GetValue(Endpoints)),
            Root = parseResult.GetValue(Root),
            Token = parseResult.GetValue(Token),
            Username = parseResult.GetValue(Username),
            Password = parseResult.GetValue(Password),
            Tls = new TlsOptions
            {
                CaFile = parseResult.GetValue(CaFile),
                CertificateFile = parseResult.GetValue(CertFile),
                KeyFile = parseResult.GetValue(KeyFile),
                InsecureSkipVerify = parseResult.GetValue(Insecure),
            },
        };
        options.Tls.Enabled = options.Tls.CaFile is not null || options.Tls.CertificateFile is not null || options.Tls.InsecureSkipVerify;
        if (parseResult.GetValue(Timeout) is { } timeout)
        {
            options.RequestTimeout = timeout;
        }

        return options;
    }

    public async Task<IStore> ConnectAsync(ParseResult parseResult, CancellationToken cancellationToken) =>
        await ConnectAsync(Read(parseResult), cancellationToken).ConfigureAwait(false);

    public static async Task<IStore> ConnectAsync(StoreOptions options, CancellationToken cancellationToken) =>
        await StoreFactory.Default.CreateAsync(options.Backend, options, cancellationToken).ConfigureAwait(false);

    public static bool IsMemory(string backend) =>
        string.Equals(backend, "memory", StringComparison.OrdinalIgnoreCase) || string.Equals(backend, "mock", StringComparison.OrdinalIgnoreCase);

    private static List<string> SplitEndpoints(string? text) =>
        string.IsNullOrWhiteSpace(text)
            ? new List<string>()
            : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
}
