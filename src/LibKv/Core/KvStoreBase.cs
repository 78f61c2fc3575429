using System.Reactive.Disposables;
using System.Reactive.Linq;

namespace LibKv.Core;

/// <summary>
/// The part every backend shares: argument validation, the value size limit, watch de-duplication and
/// completion on dispose. Backends implement the <c>…Core</c> members with already normalized keys.
/// </summary>
public abstract class KvStoreBase : IStore
{
    /// <summary>The largest value any backend accepts (Consul's limit, the smallest of the three servers).</summary>
    public const int MaxValueBytes = 512 * 1024;

    private static readonly ReadOptions s_defaultRead = new();
    private static readonly WriteOptions s_defaultWrite = new();
    private static readonly LockOptions s_defaultLock = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly StateFeed _states = new();
    private int _disposed;
    private int _indexEpoch;

    /// <summary>Keeps a copy of the options and normalizes <see cref="StoreOptions.Root"/>.</summary>
    protected KvStoreBase(StoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options.Clone();
        Root = KeyPath.NormalizeRoot(options.Root);
        Time = options.TimeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public abstract string Backend { get; }

    /// <summary>The options this store was created with.</summary>
    protected StoreOptions Options { get; }

    /// <summary>The normalized root, or null.</summary>
    protected string? Root { get; }

    /// <summary>The clock.</summary>
    protected TimeProvider Time { get; }

    /// <summary>Cancelled when the store starts disposing.</summary>
    protected CancellationToken Closing => _closing.Token;

    /// <summary>True once disposal has begun.</summary>
    protected bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <inheritdoc />
    public IObservable<StoreState> States => _states.Observable;

    /// <summary>The current connection state.</summary>
    protected StoreState State => _states.Current;

    /// <summary>Moves <see cref="States"/> to <paramref name="state"/>; a repeat of the current state is dropped, and <see cref="StoreState.Closed"/> is the base's.</summary>
    protected void SetState(StoreState state)
    {
        if (!IsDisposed && _states.Set(state))
        {
            if (KvMetrics.StateChanges.Enabled)
            {
                KvMetrics.StateChanges.Add(1, new KeyValuePair<string, object?>("backend", Backend), new KeyValuePair<string, object?>("state", state.ToString()));
            }

            OnStateChanged(state);
        }
    }

    /// <summary>Called after each state change (for logs and metrics); nothing by default.</summary>
    protected virtual void OnStateChanged(StoreState state)
    {
    }

    /// <summary>
    /// Tells every watch that the server's index went backwards (lost data, restored backup, restarted dev agent): the next
    /// state of each watch is delivered even if its LastIndex is lower, and ordering starts again from it.
    /// </summary>
    protected void NoteIndexReset() => Interlocked.Increment(ref _indexEpoch);

    /// <inheritdoc />
    public ValueTask PutAsync(string key, ReadOnlyMemory<byte> value, WriteOptions? options = null, CancellationToken cancellationToken = default)
    {
        var k = KeyPath.Normalize(key);
        var o = CheckWrite(options);
        CheckValue(k, value);
        ThrowIfDisposed();
        if (o.IfHeld is not null && FenceError(k, o.IfHeld) is { } fence)
        {
            return ValueTask.FromException(fence);
        }

        KvMetrics.Operation(Backend, "put");
        return KvTelemetry.Enabled
            ? KvTelemetry.Start(Backend, "put", k).Run((this, k, value, o, cancellationToken), static s => s.Item1.PutCoreAsync(s.k, s.value, s.o, s.cancellationToken))
            : PutCoreAsync(k, value, o, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<KVPair> GetAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        var k = KeyPath.Normalize(key);
        ThrowIfDisposed();
        KvMetrics.Operation(Backend, "get");
        return KvTelemetry.Enabled
            ? KvTelemetry.Start(Backend, "get", k).Run((this, k, options ?? s_defaultRead, cancellationToken), static s => s.Item1.GetCoreAsync(s.k, s.Item3, s.cancellationToken))
            : GetCoreAsync(k, options ?? s_defaultRead, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var k = KeyPath.Normalize(key);
        ThrowIfDisposed();
        KvMetrics.Operation(Backend, "delete");
        return KvTelemetry.Enabled
            ? KvTelemetry.Start(Backend, "delete", k).Run((this, k, cancellationToken), static s => s.Item1.DeleteCoreAsync(s.k, s.cancellationToken))
            : DeleteCoreAsync(k, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        var k = KeyPath.Normalize(key);
        ThrowIfDisposed();
        KvMetrics.Operation(Backend, "exists");
        return KvTelemetry.Enabled
            ? KvTelemetry.Start(Backend, "exists", k).Run((this, k, options ?? s_defaultRead, cancellationToken), static s => s.Item1.ExistsCoreAsync(s.k, s.Item3, s.cancellationToken))
            : ExistsCoreAsync(k, options ?? s_defaultRead, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<KVPair>> ListAsync(string directory, ReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        var d = KeyPath.NormalizeDirectory(directory);
        ThrowIfDisposed();
        KvMetrics.Operation(Backend, "list");
        return KvTelemetry.Enabled
            ? KvTelemetry.Start(Backend, "list", d).Run((this, d, options ?? s_defaultRead, cancellationToken), static s => s.Item1.ListCoreAsync(s.d, s.Item3, s.cancellationToken))
            : ListCoreAsync(d, options ?? s_defaultRead, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask DeleteTreeAsync(string directory, CancellationToken cancellationToken = default)
    {
        var d = KeyPath.NormalizeDirectory(directory);
        if (d.Length == 0)
        {
            throw new ArgumentException("DeleteTree of the whole store is not allowed; name a directory.", nameof(directory));
        }

        ThrowIfDisposed();
        KvMetrics.Operation(Backend, "delete_tree");
        return KvTelemetry.Enabled
            ? KvTelemetry.Start(Backend, "delete_tree", d).Run((this, d, cancellationToken), static s => s.Item1.DeleteTreeCoreAsync(s.d, s.cancellationToken))
            : DeleteTreeCoreAsync(d, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<KVPair> AtomicPutAsync(string key, ReadOnlyMemory<byte> value, KVPair? previous, WriteOptions? options = null, CancellationToken cancellationToken = default)
    {
        var k = KeyPath.Normalize(key);
        var o = CheckWrite(options);
        CheckValue(k, value);
        ThrowIfDisposed();
        if (o.IfHeld is not null && FenceError(k, o.IfHeld) is { } fence)
        {
            return ValueTask.FromException<KVPair>(fence);
        }

        KvMetrics.Operation(Backend, "atomic_put");
        return KvTelemetry.Enabled
            ? KvTelemetry.Start(Backend, "atomic_put", k).Run((this, k, value, previous, o, cancellationToken), static s => s.Item1.AtomicPutCoreAsync(s.k, s.value, s.previous, s.o, s.cancellationToken))
            : AtomicPutCoreAsync(k, value, previous, o, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask AtomicDeleteAsync(string key, KVPair previous, CancellationToken cancellationToken = default)
    {
        var k = KeyPath.Normalize(key);
        ArgumentNullException.ThrowIfNull(previous);
        ThrowIfDisposed();
        KvMetrics.Operation(Backend, "atomic_delete");
        return KvTelemetry.Enabled
            ? KvTelemetry.Start(Backend, "atomic_delete", k).Run((this, k, previous, cancellationToken), static s => s.Item1.AtomicDeleteCoreAsync(s.k, s.previous, s.cancellationToken))
            : AtomicDeleteCoreAsync(k, previous, cancellationToken);
    }

    /// <inheritdoc />
    public IObservable<KVPair?> Watch(string key, ReadOptions? options = null)
    {
        var k = KeyPath.Normalize(key);
        ThrowIfDisposed();
        var o = options ?? s_defaultRead;
        return Guard(Observable.Defer(() => WatchCore(k, o)), SamePair, IsStalePair);
    }

    /// <inheritdoc />
    public IObservable<IReadOnlyList<KVPair>> WatchTree(string directory, ReadOptions? options = null)
    {
        var d = KeyPath.NormalizeDirectory(directory);
        ThrowIfDisposed();
        var o = options ?? s_defaultRead;
        return Guard(Observable.Defer(() => WatchTreeCore(d, o)), SameList, static (_, _) => false);
    }

    /// <inheritdoc />
    public ILocker NewLock(string key, LockOptions? options = null)
    {
        var k = KeyPath.Normalize(key);
        var o = options ?? s_defaultLock;
        if (o.Ttl <= TimeSpan.Zero)
        {
            throw new ArgumentException("LockOptions.Ttl must be positive.", nameof(options));
        }

        if (o.Value is { Length: > MaxValueBytes })
        {
            throw new KvException(KvErrorCode.ValueTooLarge, $"The lock value of '{k}' is {o.Value.Length} bytes; the limit is {MaxValueBytes}.", k);
        }

        ThrowIfDisposed();
        KvMetrics.Operation(Backend, "new_lock");
        return NewLockCore(k, o);
    }

    /// <summary>Completes every live watch, then releases what the backend owns.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await _closing.CancelAsync().ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await DisposeCoreAsync().ConfigureAwait(false);
            }
            finally
            {
                _states.Dispose();
            }

            _closing.Dispose();
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>See <see cref="IStore.PutAsync"/>; key normalized, options checked.</summary>
    protected abstract ValueTask PutCoreAsync(string key, ReadOnlyMemory<byte> value, WriteOptions options, CancellationToken cancellationToken);

    /// <summary>See <see cref="IStore.GetAsync"/>.</summary>
    protected abstract ValueTask<KVPair> GetCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken);

    /// <summary>See <see cref="IStore.DeleteAsync"/>.</summary>
    protected abstract ValueTask DeleteCoreAsync(string key, CancellationToken cancellationToken);

    /// <summary>See <see cref="IStore.ExistsAsync"/>.</summary>
    protected abstract ValueTask<bool> ExistsCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken);

    /// <summary>See <see cref="IStore.ListAsync"/>; <paramref name="directory"/> may be "".</summary>
    protected abstract ValueTask<IReadOnlyList<KVPair>> ListCoreAsync(string directory, ReadOptions options, CancellationToken cancellationToken);

    /// <summary>See <see cref="IStore.DeleteTreeAsync"/>; <paramref name="directory"/> is never "".</summary>
    protected abstract ValueTask DeleteTreeCoreAsync(string directory, CancellationToken cancellationToken);

    /// <summary>See <see cref="IStore.AtomicPutAsync"/>.</summary>
    protected abstract ValueTask<KVPair> AtomicPutCoreAsync(string key, ReadOnlyMemory<byte> value, KVPair? previous, WriteOptions options, CancellationToken cancellationToken);

    /// <summary>See <see cref="IStore.AtomicDeleteAsync"/>.</summary>
    protected abstract ValueTask AtomicDeleteCoreAsync(string key, KVPair previous, CancellationToken cancellationToken);

    /// <summary>A cold observable of the key's states; the base removes repeats and completes it on dispose.</summary>
    protected abstract IObservable<KVPair?> WatchCore(string key, ReadOptions options);

    /// <summary>A cold observable of the directory's snapshots; the base removes repeats and completes it on dispose.</summary>
    protected abstract IObservable<IReadOnlyList<KVPair>> WatchTreeCore(string directory, ReadOptions options);

    /// <summary>A locker for the normalized key with checked options.</summary>
    protected abstract ILocker NewLockCore(string key, LockOptions options);

    /// <summary>Releases connections, leases and sessions; called once, after <see cref="Closing"/> is cancelled.</summary>
    protected abstract ValueTask DisposeCoreAsync();

    /// <summary>True when the backend applies <see cref="WriteOptions.IfHeld"/> in the write's transaction; otherwise such a write is NotSupported.</summary>
    protected virtual bool SupportsFencedWrites => false;

    /// <summary>True when <paramref name="locker"/> was made by this store (a fence can only name a lock of the same store).</summary>
    protected virtual bool OwnsLocker(ILocker locker) => false;

    /// <summary>Throws <see cref="ObjectDisposedException"/> once the store is disposed.</summary>
    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <summary>True when two watch states are the same (same key and LastIndex, or both null).</summary>
    public static bool SamePair(KVPair? a, KVPair? b) =>
        a is null ? b is null : b is not null && a.LastIndex == b.LastIndex && string.Equals(a.Key, b.Key, StringComparison.Ordinal);

    /// <summary>True when two snapshots list the same keys at the same versions.</summary>
    public static bool SameList(IReadOnlyList<KVPair> a, IReadOnlyList<KVPair> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!SamePair(a[i], b[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsStalePair(KVPair? lastNonNull, KVPair? next) =>
        lastNonNull is not null && next is not null && next.LastIndex <= lastNonNull.LastIndex;

    private static WriteOptions CheckWrite(WriteOptions? options)
    {
        if (options is null)
        {
            return s_defaultWrite;
        }

        if (options.Ttl is { } ttl && ttl <= TimeSpan.Zero)
        {
            throw new ArgumentException("WriteOptions.Ttl must be positive when set.", nameof(options));
        }

        if (options.KeepAlive && options.Ttl is null)
        {
            throw new ArgumentException("WriteOptions.KeepAlive needs a Ttl.", nameof(options));
        }

        if (options.IfHeld is not null && options.KeepAlive)
        {
            throw new ArgumentException("WriteOptions.IfHeld cannot be combined with KeepAlive: a keep-alive key is written again after a lost session, when the lock may be gone.", nameof(options));
        }

        return options;
    }

    private KvException? FenceError(string key, ILocker locker)
    {
        if (!SupportsFencedWrites)
        {
            return new KvException(KvErrorCode.NotSupported, $"Fenced writes (WriteOptions.IfHeld) are not supported by the {Backend} backend yet.", key);
        }

        if (!OwnsLocker(locker))
        {
            throw new ArgumentException("WriteOptions.IfHeld must be a locker made by this store's NewLock.", "options");
        }

        // Not held here: certainly not held at the server either, so nothing is sent.
        return locker.IsHeld ? null : new KvException(KvErrorCode.LockNotHeld, $"The write of '{key}' is fenced by the lock '{locker.Key}', which this client does not hold.", key);
    }

    private static void CheckValue(string key, ReadOnlyMemory<byte> value)
    {
        if (value.Length > MaxValueBytes)
        {
            throw new KvException(KvErrorCode.ValueTooLarge, $"The value of '{key}' is {value.Length} bytes; the limit is {MaxValueBytes}.", key);
        }
    }

    private IObservable<T> Guard<T>(IObservable<T> source, Func<T, T, bool> same, Func<T, T, bool> stale) =>
        Observable.Create<T>(observer =>
        {
            var gate = new object();
            var done = false;
            var hasLast = false;
            var epoch = Volatile.Read(ref _indexEpoch);
            var resetPending = false;
            T last = default!;
            T lastNonNull = default!;
            var subscription = new SingleAssignmentDisposable();

            void Finish(Action<IObserver<T>> signal)
            {
                lock (gate)
                {
                    if (done)
                    {
                        return;
                    }

                    done = true;
                    signal(observer);
                }

                subscription.Dispose();
            }

            CancellationTokenRegistration registration;
            try
            {
                registration = _closing.Token.Register(() => Finish(static o => o.OnCompleted()));
            }
            catch (ObjectDisposedException)
            {
                observer.OnCompleted();
                return Disposable.Empty;
            }

            subscription.Disposable = source.Subscribe(
                value =>
                {
                    lock (gate)
                    {
                        var currentEpoch = Volatile.Read(ref _indexEpoch);
                        if (currentEpoch != epoch)
                        {
                            // The server's index went backwards: the first lower state after it starts the new order
                            // (a state of the old history delivered just after the reset must not become the baseline).
                            epoch = currentEpoch;
                            resetPending = true;
                        }

                        var isStale = lastNonNull is not null && stale(lastNonNull, value);
                        if (isStale && resetPending)
                        {
                            isStale = false;
                            resetPending = false;
                            lastNonNull = default!;
                            hasLast = false;
                        }

                        if (done || (hasLast && same(last, value)) || isStale)
                        {
                            return;
                        }

                        hasLast = true;
                        last = value;
                        if (value is not null)
                        {
                            lastNonNull = value;
                        }

                        if (KvMetrics.WatchStates.Enabled)
                        {
                            KvMetrics.WatchStates.Add(1, new KeyValuePair<string, object?>("backend", Backend));
                        }

                        observer.OnNext(value);
                    }
                },
                error => Finish(o => o.OnError(error)),
                () => Finish(static o => o.OnCompleted()));

            return Disposable.Create(() =>
            {
                lock (gate)
                {
                    done = true;
                }

                registration.Dispose();
                subscription.Dispose();
            });
        });
}
