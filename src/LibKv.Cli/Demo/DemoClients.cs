namespace LibKv.Cli.Demo;

/// <summary>Opens the demo's independent clients (one per actor, as separate processes would have) and disposes what is left.</summary>
internal sealed class DemoClients(StoreOptions options) : IAsyncDisposable
{
    private readonly List<IStore> _open = new();

    public async Task<IStore> OpenAsync(CancellationToken cancellationToken)
    {
        var store = await ConnectionOptions.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        lock (_open)
        {
            _open.Add(store);
        }

        return store;
    }

    /// <summary>Disposes one client now, as a process that exits would; its keep-alive keys start to expire.</summary>
    public async Task CloseAsync(IStore store)
    {
        lock (_open)
        {
            _open.Remove(store);
        }

        await store.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        IStore[] open;
        lock (_open)
        {
            open = _open.ToArray();
            _open.Clear();
        }

        for (var i = open.Length - 1; i >= 0; i--)
        {
            await open[i].DisposeAsync().ConfigureAwait(false);
        }
    }
}
