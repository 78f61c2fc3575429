namespace LibKv;

/// <summary>
/// A key/value store with TTLs, atomic writes, watches and locks, behaving the same on every backend.
/// </summary>
/// <code>
/// await using var store = await StoreFactory.Default.CreateAsync("memory", new StoreOptions());
/// await store.PutAsync("config/app", "v1"u8.ToArray());
/// var pair = await store.GetAsync("config/app");
/// </code>
public interface IStore : IAsyncDisposable
{
    /// <summary>The backend name: "memory", "consul", "etcd" or "zookeeper".</summary>
    string Backend { get; }

    /// <summary>Creates or overwrites <paramref name="key"/>.</summary>
    ValueTask PutAsync(string key, ReadOnlyMemory<byte> value, WriteOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Reads <paramref name="key"/>; throws <see cref="KvException"/> with <see cref="KvErrorCode.KeyNotFound"/> when it is missing.</summary>
    ValueTask<KVPair> GetAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes <paramref name="key"/> (not the keys under it); KeyNotFound when it is missing.</summary>
    ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Tells whether <paramref name="key"/> exists.</summary>
    ValueTask<bool> ExistsAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Every key under <paramref name="directory"/> at any depth, sorted ordinally; KeyNotFound when neither it nor anything under it exists.</summary>
    ValueTask<IReadOnlyList<KVPair>> ListAsync(string directory, ReadOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes <paramref name="directory"/> and every key under it; KeyNotFound when nothing was there.</summary>
    ValueTask DeleteTreeAsync(string directory, CancellationToken cancellationToken = default);

    /// <summary>Creates the key when <paramref name="previous"/> is null, else writes it only if its version still equals <paramref name="previous"/>'s.</summary>
    ValueTask<KVPair> AtomicPutAsync(string key, ReadOnlyMemory<byte> value, KVPair? previous, WriteOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes the key only if its version still equals <paramref name="previous"/>'s.</summary>
    ValueTask AtomicDeleteAsync(string key, KVPair previous, CancellationToken cancellationToken = default);

    /// <summary>Emits the key's current pair (null when missing), then each later state; each subscription is its own watch.</summary>
    IObservable<KVPair?> Watch(string key, ReadOptions? options = null);

    /// <summary>Emits the current list under <paramref name="directory"/> (empty when nothing), then a fresh snapshot after every change.</summary>
    IObservable<IReadOnlyList<KVPair>> WatchTree(string directory, ReadOptions? options = null);

    /// <summary>Returns a locker for <paramref name="key"/> that does not hold the lock yet.</summary>
    ILocker NewLock(string key, LockOptions? options = null);

    /// <summary>Emits the current connection state on subscribe, then each change, and <see cref="StoreState.Closed"/> then OnCompleted on dispose.</summary>
    IObservable<StoreState> States { get; }
}
