using System.Reactive.Linq;

namespace LibKv.Hosting;

/// <summary>
/// The <see cref="IStore"/> a container hands out: resolving it never touches the network. It connects at host start
/// (<see cref="KvStoreConnector"/>) or on first use, and every call waits for that connection.
/// </summary>
public sealed class DeferredStore : IStore
{
    private readonly Func<CancellationToken, ValueTask<IStore>> _create;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _disposing = new();
    private Task<IStore>? _connecting;
    private IStore? _store;
    private bool _disposed;

    /// <summary>Creates a store that connects with <paramref name="create"/> when first needed.</summary>
    public DeferredStore(string backend, Func<CancellationToken, ValueTask<IStore>> create)
    {
        Backend = backend;
        _create = create;
    }

    /// <inheritdoc />
    public string Backend { get; }

    /// <summary>The connected store, or null before the connection is made.</summary>
    public IStore? Store => Volatile.Read(ref _store);

    /// <summary>Why the last attempt to connect failed, or null.</summary>
    public Exception? LastError { get; private set; }

    /// <inheritdoc />
    public IObservable<StoreState> States => Store?.States ?? Observable.FromAsync(ConnectAsync).SelectMany(s => s.States);

    /// <summary>Connects (or joins the attempt under way); a failed attempt is made again by the next call.</summary>
    public Task<IStore> ConnectAsync(CancellationToken cancellationToken = default)
    {
        if (Store is { } ready)
        {
            return Task.FromResult(ready);
        }

        Task<IStore> attempt;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connecting is null || _connecting.IsFaulted || _connecting.IsCanceled)
            {
                _connecting = CreateAsync();
            }

            attempt = _connecting;
        }

        return attempt.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask PutAsync(string key, ReadOnlyMemory<byte> value, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        Store is { } s ? s.PutAsync(key, value, options, cancellationToken) : Later(Check(key), cancellationToken, (st, ct) => st.PutAsync(key, value, options, ct));

    /// <inheritdoc />
    public ValueTask<KVPair> GetAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default) =>
        Store is { } s ? s.GetAsync(key, options, cancellationToken) : Later(Check(key), cancellationToken, (st, ct) => st.GetAsync(key, options, ct));

    /// <inheritdoc />
    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) =>
        Store is { } s ? s.DeleteAsync(key, cancellationToken) : Later(Check(key), cancellationToken, (st, ct) => st.DeleteAsync(key, ct));

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default) =>
        Store is { } s ? s.ExistsAsync(key, options, cancellationToken) : Later(Check(key), cancellationToken, (st, ct) => st.ExistsAsync(key, options, ct));

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<KVPair>> ListAsync(string directory, ReadOptions? options = null, CancellationToken cancellationToken = default) =>
        Store is { } s ? s.ListAsync(directory, options, cancellationToken) : Later(CheckDirectory(directory), cancellationToken, (st, ct) => st.ListAsync(directory, options, ct));

    /// <inheritdoc />
    public ValueTask DeleteTreeAsync(string directory, CancellationToken cancellationToken = default) =>
        Store is { } s ? s.DeleteTreeAsync(directory, cancellationToken) : Later(CheckDirectory(directory), cancellationToken, (st, ct) => st.DeleteTreeAsync(directory, ct));

    /// <inheritdoc />
    public ValueTask<KVPair> AtomicPutAsync(string key, ReadOnlyMemory<byte> value, KVPair? previous, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        Store is { } s ? s.AtomicPutAsync(key, value, previous, options, cancellationToken) : Later(Check(key), cancellationToken, (st, ct) => st.AtomicPutAsync(key, value, previous, options, ct));

    /// <inheritdoc />
    public ValueTask AtomicDeleteAsync(string key, KVPair previous, CancellationToken cancellationToken = default)
    {
        if (Store is { } s)
        {
            return s.AtomicDeleteAsync(key, previous, cancellationToken);
        }

        ArgumentNullException.ThrowIfNull(previous);
        return Later(Check(key), cancellationToken, (st, ct) => st.AtomicDeleteAsync(key, previous, ct));
    }

    /// <inheritdoc />
    public IObservable<KVPair?> Watch(string key, ReadOptions? options = null)
    {
        if (Store is { } s)
        {
            return s.Watch(key, options);
        }

        Check(key);
        return Observable.FromAsync(ConnectAsync).SelectMany(st => st.Watch(key, options));
    }

    /// <inheritdoc />
    public IObservable<IReadOnlyList<KVPair>> WatchTree(string directory, ReadOptions? options = null)
    {
        if (Store is { } s)
        {
            return s.WatchTree(directory, options);
        }

        CheckDirectory(directory);
        return Observable.FromAsync(ConnectAsync).SelectMany(st => st.WatchTree(directory, options));
    }

    /// <inheritdoc />
    public ILocker NewLock(string key, LockOptions? options = null) =>
        Store is { } s ? s.NewLock(key, options) : new DeferredLocker(this, KeyPath.Normalize(key), options);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Task<IStore>? connecting;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            connecting = _connecting;
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        IStore? store = Store;
        if (store is null && connecting is not null)
        {
            try
            {
                store = await connecting.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Never connected: nothing to release.
            }
        }

        if (store is not null)
        {
            await store.DisposeAsync().ConfigureAwait(false);
        }

        _disposing.Dispose();
    }

    private static string Check(string key) => KeyPath.Normalize(key);

    private static string CheckDirectory(string directory) => KeyPath.NormalizeDirectory(directory);

    private async Task<IStore> CreateAsync()
    {
        try
        {
            var store = await _create(_disposing.Token).ConfigureAwait(false);
            Volatile.Write(ref _store, store);
            LastError = null;
            return store;
        }
        catch (Exception e)
        {
            LastError = e;
            throw;
        }
    }

    private async ValueTask Later(string _, CancellationToken cancellationToken, Func<IStore, CancellationToken, ValueTask> call)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var store = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await call(store, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<T> Later<T>(string _, CancellationToken cancellationToken, Func<IStore, CancellationToken, ValueTask<T>> call)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var store = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        return await call(store, cancellationToken).ConfigureAwait(false);
    }
}
