namespace LibKv.Cli.Tests;

/// <summary>
/// A named memory space kept alive by a store the test holds open, so that several CLI invocations (each opening and
/// disposing its own store) see the same data, as separate processes would see one server.
/// </summary>
internal sealed class SharedSpace : IAsyncDisposable
{
    private SharedSpace(string name, IStore holder)
    {
        Name = name;
        Holder = holder;
    }

    public string Name { get; }

    public IStore Holder { get; }

    public static async Task<SharedSpace> OpenAsync()
    {
        var name = "cli-test-" + Guid.NewGuid().ToString("N");
        var holder = await StoreFactory.Default.CreateAsync("memory", new StoreOptions { Endpoints = { name } });
        return new SharedSpace(name, holder);
    }

    /// <summary>The given command line with <c>--endpoints NAME</c> appended.</summary>
    public string[] Args(params string[] args) => [.. args, "--endpoints", Name];

    public ValueTask DisposeAsync() => Holder.DisposeAsync();
}
