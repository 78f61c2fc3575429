using System.Reactive.Disposables;
using System.Reactive.Linq;
using LibKv.Core;

namespace LibKv.Memory;

/// <summary>
/// The in-memory backend (<c>memory</c>, alias <c>mock</c>): every rule of the contract in process, for tests and
/// embedded use. Stores created with the same <c>Endpoints[0]</c> share one data space.
/// </summary>
/// <code>
/// var time = new MyFakeTimeProvider();
/// await using var store = new MemoryStore(new StoreOptions { TimeProvider = time });
/// </code>
public sealed class MemoryStore : KvStoreBase
{
    /// <summary>The backend name.</summary>
    public const string BackendName = "memory";

    private readonly MemorySpace _space;
    private readonly HashSet<MemoryLocker> _lockers = new();

    /// <summary>Creates a store on a private data space, or on the space named by <c>Endpoints[0]</c>.</summary>
    public MemoryStore(StoreOptions? options = null)
        : base(options ?? new StoreOptions())
    {
        _space = MemorySpace.Acquire(Options.Endpoints.Count > 0 ? Options.Endpoints[0] : null, Time);
    }

    /// <inheritdoc />
    public override string Backend => BackendName;

    internal MemorySpace Space => _space;

    /// <summary>
    /// Simulates the loss of this client's session, as a network partition or a long pause would cause on a server:
    /// every lock it holds is lost, <see cref="IStore.States"/> reports SessionLost, and its keep-alive keys vanish and
    /// are written again with their last values on the new session (then Reconnected). The store stays usable.
    /// </summary>
    public void ExpireSession()
    {
        ThrowIfDisposed();
        MemoryLocker[] lockers;
        List<(string Key, byte[] Value, TimeSpan Ttl)> keepAlive;
        lock (_space.Gate)
        {
            keepAlive = _space.RemoveKeepAlive(this);
            lockers = _lockers.ToArray();
        }

        foreach (var locker in lockers)
        {
            locker.LoseHold();
        }

        SetState(StoreState.SessionLost);
        lock (_space.Gate)
        {
            foreach (var (key, value, ttl) in keepAlive)
            {
                _space.Write(key, value, ttl, this);
            }
        }

        SetState(StoreState.Reconnected);
    }

    /// <inheritdoc />
    protected override bool SupportsFencedWrites => true;

    /// <inheritdoc />
    protected override bool OwnsLocker(ILocker locker) => locker is MemoryLocker m && ReferenceEquals(m.Store, this);

    private static void CheckFence(string key, WriteOptions options)
    {
        // Under the space's gate: the check and the write are one step, as in a server transaction.
        if (options.IfHeld is MemoryLocker locker && !locker.HoldsInSpace())
        {
            throw new KvException(KvErrorCode.LockNotHeld, $"The write of '{key}' is fenced by the lock '{locker.Key}', which is no longer held.", key);
        }
    }

    internal void Track(MemoryLocker locker, bool add)
    {
        lock (_space.Gate)
        {
            if (add)
            {
                _lockers.Add(locker);
            }
            else
            {
                _lockers.Remove(locker);
            }
        }
    }

    /// <inheritdoc />
    protected override ValueTask PutCoreAsync(string key, ReadOnlyMemory<byte> value, WriteOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_space.Gate)
        {
            CheckFence(key, options);
            _space.Write(Full(key), value, options.Ttl, options.KeepAlive ? this : null);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    protected override ValueTask<KVPair> GetCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        MemorySpace.Entry? entry;
        lock (_space.Gate)
        {
            entry = _space.Find(Full(key));
        }

        return entry is null ? throw KvException.NotFound(key) : new ValueTask<KVPair>(entry.ToPair(key));
    }

    /// <inheritdoc />
    protected override ValueTask DeleteCoreAsync(string key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        bool removed;
        lock (_space.Gate)
        {
            removed = _space.Remove(Full(key));
        }

        return removed ? ValueTask.CompletedTask : throw KvException.NotFound(key);
    }

    /// <inheritdoc />
    protected override ValueTask<bool> ExistsCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_space.Gate)
        {
            return new ValueTask<bool>(_space.Find(Full(key)) is not null);
        }
    }

    /// <inheritdoc />
    protected override ValueTask<IReadOnlyList<KVPair>> ListCoreAsync(string directory, ReadOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var full = Full(directory);
        lock (_space.Gate)
        {
            var tree = _space.Tree(full, includeSelf: true);
            if (tree.Count == 0)
            {
                throw KvException.NotFound(directory);
            }

            var list = new List<KVPair>(tree.Count);
            foreach (var (key, entry) in tree)
            {
                if (!string.Equals(key, full, StringComparison.Ordinal) || full.Length == 0)
                {
                    list.Add(entry.ToPair(Strip(key)));
                }
            }

            if (directory.Length == 0 && list.Count == 0)
            {
                throw KvException.NotFound(directory);
            }

            return new ValueTask<IReadOnlyList<KVPair>>(list);
        }
    }

    /// <inheritdoc />
    protected override ValueTask DeleteTreeCoreAsync(string directory, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_space.Gate)
        {
            var tree = _space.Tree(Full(directory), includeSelf: true);
            if (tree.Count == 0)
            {
                throw KvException.NotFound(directory);
            }

            foreach (var (key, _) in tree)
            {
                _space.Remove(key);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    protected override ValueTask<KVPair> AtomicPutCoreAsync(string key, ReadOnlyMemory<byte> value, KVPair? previous, WriteOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var full = Full(key);
        lock (_space.Gate)
        {
            CheckFence(key, options);
            var current = _space.Find(full);
            Check(key, current, previous, creating: previous is null);
            var entry = _space.Write(full, value, options.Ttl, options.KeepAlive ? this : null);
            return new ValueTask<KVPair>(entry.ToPair(key));
        }
    }

    /// <inheritdoc />
    protected override ValueTask AtomicDeleteCoreAsync(string key, KVPair previous, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var full = Full(key);
        lock (_space.Gate)
        {
            Check(key, _space.Find(full), previous, creating: false);
            _space.Remove(full);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    protected override IObservable<KVPair?> WatchCore(string key, ReadOptions options) =>
        Observable.Create<KVPair?>(observer =>
        {
            var full = Full(key);
            var dispatcher = new LatestValueDispatcher<KVPair?>(observer);
            var watcher = new Watcher((space, changed) =>
            {
                if (string.Equals(changed, full, StringComparison.Ordinal))
                {
                    dispatcher.Post(space.Find(full)?.ToPair(key));
                }
            });
            lock (_space.Gate)
            {
                dispatcher.Post(_space.Find(full)?.ToPair(key));
                _space.AddWatcher(watcher);
            }

            return Disposable.Create(() => StopWatch(watcher, dispatcher.Stop));
        });

    /// <inheritdoc />
    protected override IObservable<IReadOnlyList<KVPair>> WatchTreeCore(string directory, ReadOptions options) =>
        Observable.Create<IReadOnlyList<KVPair>>(observer =>
        {
            var full = Full(directory);
            var dispatcher = new LatestValueDispatcher<IReadOnlyList<KVPair>>(observer);
            var watcher = new Watcher((space, changed) =>
            {
                if (KeyPath.IsUnder(changed, full))
                {
                    dispatcher.Post(StripAll(space.Snapshot(full)));
                }
            });
            lock (_space.Gate)
            {
                dispatcher.Post(StripAll(_space.Snapshot(full)));
                _space.AddWatcher(watcher);
            }

            return Disposable.Create(() => StopWatch(watcher, dispatcher.Stop));
        });

    /// <inheritdoc />
    protected override ILocker NewLockCore(string key, LockOptions options) => new MemoryLocker(this, key, Full(key), options, Time);

    /// <inheritdoc />
    protected override async ValueTask DisposeCoreAsync()
    {
        MemoryLocker[] lockers;
        lock (_space.Gate)
        {
            lockers = _lockers.ToArray();
        }

        foreach (var locker in lockers)
        {
            await locker.DisposeAsync().ConfigureAwait(false);
        }

        lock (_space.Gate)
        {
            _space.RemoveKeepAlive(this);
        }

        _space.Release();
    }

    private static void Check(string key, MemorySpace.Entry? current, KVPair? previous, bool creating)
    {
        if (creating)
        {
            if (current is not null)
            {
                throw KvException.Exists(key);
            }

            return;
        }

        if (current is null)
        {
            throw KvException.NotFound(key);
        }

        if (current.Index != previous!.LastIndex)
        {
            throw KvException.Modified(key);
        }
    }

    private void StopWatch(IMemoryWatcher watcher, Action stop)
    {
        lock (_space.Gate)
        {
            _space.RemoveWatcher(watcher);
        }

        stop();
    }

    private string Full(string key) => KeyPath.Combine(Root, key);

    private string Strip(string full) => KeyPath.StripRoot(Root, full) ?? full;

    private IReadOnlyList<KVPair> StripAll(IReadOnlyList<KVPair> list)
    {
        if (Root is null)
        {
            return list;
        }

        var result = new KVPair[list.Count];
        for (var i = 0; i < list.Count; i++)
        {
            result[i] = new KVPair(Strip(list[i].Key), list[i].Value, list[i].LastIndex);
        }

        return result;
    }

    private sealed class Watcher(Action<MemorySpace, string> onChanged) : IMemoryWatcher
    {
        public void OnChanged(MemorySpace space, string key) => onChanged(space, key);
    }
}
