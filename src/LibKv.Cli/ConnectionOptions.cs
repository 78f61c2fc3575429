using System.CommandLine;

namespace LibKv.Cli;

/// <summary>The global options that say which store to talk to; <c>LIBKV_BACKEND</c> and <c>LIBKV_ENDPOINTS</c> give defaults.</summary>
internal sealed class ConnectionOptions
{
    public const string BackendVariable = "LIBKV_BACKEND";
    public const string EndpointsVariable = "LIBKV_ENDPOINTS";

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
        Description = "Consul ACL token.",
        Recursive = true,
    };

    public Option<string?> Username { get; } = new("--username")
    {
        Description = "etcd user or ZooKeeper digest user.",
        Recursive = true,
    };

    public Option<string?> Password { get; } = new("--password")
    {
        Description = "etcd password or ZooKeeper digest password.",
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
        };
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
