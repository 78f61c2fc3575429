using System.Collections.Concurrent;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using Google.Protobuf;
using LibKv.Core;
using LibKv.Etcd.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LibKv.Etcd;

/// <summary>The etcd v3 store: LibKv's contract over etcd's gRPC API (KV, Watch, Lease, Auth).</summary>
/// <code>
/// await using var store = await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { "127.0.0.1:2379" } });
/// </code>
public sealed class EtcdStore : KvStoreBase
{
    /// <summary>The backend name.</summary>
    public const string BackendName = "etcd";

    /// <summary>The endpoint used when none is given.</summary>
    public const string DefaultEndpoint = "127.0.0.1:2379";

    // Lazy: GetOrAdd may run its factory on several racing threads, which would grant (and keep alive) extra leases.
    private readonly ConcurrentDictionary<long, Lazy<Task<long>>> _keepAliveLeases = new();
    private readonly ConcurrentDictionary<EtcdLocker, byte> _lockers = new();
    private readonly ILogger _logger;

    private EtcdStore(StoreOptions options)
        : base(options)
    {
        _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<EtcdStore>();
        Connection = new EtcdConnection(Options, _logger);
        Keys = new EtcdKeys(Root);
        Hub = new EtcdWatchHub(Connection, Keys.ProbeKey);
        Keeper = new EtcdLeaseKeeper(Connection);
        KeepAliveKeys = new EtcdKeepAliveKeys(RewriteKeepAliveAsync, Connection.Reachability.RewritesDone, detail => EtcdLog.KeepAliveRewriteFailed(_logger, detail), Closing);
        Connection.Reachability.Attach(SetState, () => KeepAliveKeys.HasPending);
    }

    /// <inheritdoc />
    public override string Backend => BackendName;

    internal EtcdConnection Connection { get; }

    internal EtcdKeys Keys { get; }

    internal EtcdWatchHub Hub { get; }

    internal EtcdLeaseKeeper Keeper { get; }

    internal EtcdKeepAliveKeys KeepAliveKeys { get; }

    /// <summary>Cancelled when the store starts disposing.</summary>
    internal CancellationToken ClosingToken => Closing;

    /// <summary>The leases this store keeps alive (keep-alive keys and locks); for tests that end them from outside.</summary>
    internal IReadOnlyCollection<long> LeaseIds => Keeper.Ids;

    /// <summary>Creates a store and checks that etcd answers (and accepts the credentials).</summary>
    public static async ValueTask<EtcdStore> CreateAsync(StoreOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var store = new EtcdStore(options);
        try
        {
            await store.CheckServerAsync(cancellationToken).ConfigureAwait(false);
            // An internal key under the Root: a user whose role covers only the Root may read it.
            var probe = new RangeRequest { Key = store.Keys.ProbeKey, CountOnly = true };
            await store.Connection.CallAsync(EtcdMethods.Range, probe, RangeResponse.Parser, null, EtcdCall.Read, cancellationToken, singleRound: true).ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Asks Maintenance/Status; when that fails in a way etcd would not, names what answers instead (InvalidConfiguration).</summary>
    private async Task CheckServerAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Connection.CallAsync(EtcdMethods.Status, new StatusRequest(), StatusResponse.Parser, null, EtcdCall.Read, cancellationToken, singleRound: true).ConfigureAwait(false);
        }
        catch (KvException e) when (e.Code != KvErrorCode.Unauthorized)
        {
            var timeout = TimeSpan.FromTicks(Math.Min(Connection.RequestTimeout.Ticks, TimeSpan.FromSeconds(3).Ticks));
            var found = await Task.WhenAll(Connection.Endpoints.Select(async endpoint =>
                (endpoint, what: await EtcdServerCheck.DescribeAsync(endpoint.Host, endpoint.Port, timeout, cancellationToken).ConfigureAwait(false)))).ConfigureAwait(false);
            if (found.FirstOrDefault(f => f.what is not null) is { what: { } what } wrong)
            {
                throw new KvException(
                    KvErrorCode.InvalidConfiguration,
                    $"The etcd endpoint {wrong.endpoint.Text} is not etcd: {what} answered there. Check StoreOptions.Endpoints (etcd's client port is 2379 by default).",
                    innerException: e);
            }

            if (e.Code == KvErrorCode.NotSupported)
            {
                throw new KvException(KvErrorCode.InvalidConfiguration, $"What answers at {Connection.EndpointList} speaks HTTP/2 but has no etcd Maintenance service: it is not etcd. Check StoreOptions.Endpoints.", innerException: e);
            }

            throw;
        }
    }

    internal static long TtlSeconds(TimeSpan ttl) => Math.Max(1, (long)Math.Ceiling(ttl.TotalSeconds));

    /// <summary>
    /// The lease of something kept alive (keep-alive keys, locks): one second of slack over the TTL so a short stall
    /// does not lose it, capped so a dead holder's lease still ends within the contract's 2 × TTL + 1 s.
    /// </summary>
    internal static long KeptTtlSeconds(TimeSpan ttl) =>
        Math.Max(TtlSeconds(ttl), Math.Min(TtlSeconds(ttl) + 1, (long)Math.Floor((2 * ttl.TotalSeconds) + 0.5)));

    /// <inheritdoc />
    protected override bool SupportsFencedWrites => true;

    /// <inheritdoc />
    protected override bool OwnsLocker(ILocker locker) => locker is EtcdLocker own && ReferenceEquals(own.Store, this);

    internal void Track(EtcdLocker locker, bool add)
    {
        if (add)
        {
            _lockers[locker] = 0;
        }
        else
        {
            _lockers.TryRemove(locker, out _);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask PutCoreAsync(string key, ReadOnlyMemory<byte> value, WriteOptions options, CancellationToken cancellationToken)
    {
        var fence = FenceOf(key, options);
        for (var attempt = 0; ; attempt++)
        {
            var lease = await LeaseForAsync(options, cancellationToken).ConfigureAwait(false);
            var request = new PutRequest { Key = Keys.Full(key), Value = EtcdKeys.Wrap(value), Lease = lease };
            try
            {
                if (fence is null)
                {
                    await Connection.PutAsync(request, key, cancellationToken).ConfigureAwait(false);
                }
                else if (!(await Connection.TxnAsync(new TxnRequest { Compare = { fence }, Success = { new RequestOp { RequestPut = request } } }, key, EtcdCall.Write, cancellationToken).ConfigureAwait(false)).Succeeded)
                {
                    throw FenceFailure(key, options.IfHeld!);
                }

                Written(key, value, options, lease);
                return;
            }
            catch (KvException e) when (attempt == 0 && EtcdErrors.IsLeaseNotFound(e))
            {
                ForgetKeepAliveLease(lease);
            }
        }
    }

    /// <inheritdoc />
    protected override async ValueTask<KVPair> GetCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken)
    {
        var response = await Connection.RangeAsync(new RangeRequest { Key = Keys.Full(key), Serializable = !options.Consistent }, key, cancellationToken).ConfigureAwait(false);
        return response.Kvs.Count == 0 ? throw NotFound(key) : EtcdKeys.Pair(key, response.Kvs[0]);
    }

    /// <inheritdoc />
    protected override async ValueTask DeleteCoreAsync(string key, CancellationToken cancellationToken)
    {
        KeepAliveKeys.Forget(key);
        var response = await Connection.DeleteAsync(new DeleteRangeRequest { Key = Keys.Full(key) }, key, cancellationToken).ConfigureAwait(false);
        if (response.Deleted == 0)
        {
            throw NotFound(key);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask<bool> ExistsCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken)
    {
        var response = await Connection.RangeAsync(new RangeRequest { Key = Keys.Full(key), CountOnly = true, Serializable = !options.Consistent }, key, cancellationToken).ConfigureAwait(false);
        return response.Count > 0;
    }

    /// <inheritdoc />
    protected override async ValueTask<IReadOnlyList<KVPair>> ListCoreAsync(string directory, ReadOptions options, CancellationToken cancellationToken)
    {
        // Internal keys (lock waiters, also a nested Root's) lie in the range but are not listed and do not make it exist.
        var tree = new RangeRequest { Key = Keys.TreeStart(directory), RangeEnd = Keys.TreeEnd(directory), Serializable = !options.Consistent };
        IReadOnlyList<KVPair> list;
        bool exists;
        if (directory.Length == 0)
        {
            list = ToList((await Connection.RangeAsync(tree, directory, cancellationToken).ConfigureAwait(false)).Kvs);
            exists = list.Count > 0;
        }
        else if (options.Consistent)
        {
            // Both ranges in one transaction: one round trip, one revision.
            var txn = new TxnRequest
            {
                Success =
                {
                    new RequestOp { RequestRange = tree },
                    new RequestOp { RequestRange = new RangeRequest { Key = Keys.Full(directory), CountOnly = true } },
                },
            };
            var response = await Connection.TxnAsync(txn, directory, EtcdCall.Read, cancellationToken).ConfigureAwait(false);
            list = ToList(response.Responses[0].ResponseRange.Kvs);
            exists = list.Count > 0 || response.Responses[1].ResponseRange.Count > 0;
        }
        else
        {
            list = ToList((await Connection.RangeAsync(tree, directory, cancellationToken).ConfigureAwait(false)).Kvs);
            exists = list.Count > 0
                || (await Connection.RangeAsync(new RangeRequest { Key = Keys.Full(directory), CountOnly = true, Serializable = true }, directory, cancellationToken).ConfigureAwait(false)).Count > 0;
        }

        return exists ? list : throw NotFound(directory);
    }

    /// <inheritdoc />
    protected override async ValueTask DeleteTreeCoreAsync(string directory, CancellationToken cancellationToken)
    {
        KeepAliveKeys.ForgetTree(directory);
        var txn = new TxnRequest
        {
            Success =
            {
                new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = Keys.Full(directory) } },
                new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = Keys.TreeStart(directory), RangeEnd = Keys.TreeEnd(directory) } },
            },
        };
        var response = await Connection.TxnAsync(txn, directory, EtcdCall.Write, cancellationToken).ConfigureAwait(false);
        if (response.Responses.Sum(r => r.ResponseDeleteRange.Deleted) == 0)
        {
            throw NotFound(directory);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask<KVPair> AtomicPutCoreAsync(string key, ReadOnlyMemory<byte> value, KVPair? previous, WriteOptions options, CancellationToken cancellationToken)
    {
        var full = Keys.Full(key);
        var fence = FenceOf(key, options);
        for (var attempt = 0; ; attempt++)
        {
            var lease = await LeaseForAsync(options, cancellationToken).ConfigureAwait(false);
            var txn = new TxnRequest
            {
                Compare = { previous is null ? CompareCreate(full, 0) : CompareMod(full, previous.LastIndex) },
                Success = { new RequestOp { RequestPut = new PutRequest { Key = full, Value = EtcdKeys.Wrap(value), Lease = lease } } },
                Failure = { new RequestOp { RequestRange = new RangeRequest { Key = full, KeysOnly = true } } },
            };
            if (fence is not null)
            {
                // Same Txn: the write happens only while the hold's waiter key is still the one it created; the
                // Failure branch reads that key too, to tell a lost lock from a failed compare-and-swap.
                txn.Compare.Add(fence);
                txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = fence.Key, KeysOnly = true } });
            }

            TxnResponse response;
            try
            {
                response = await Connection.TxnAsync(txn, key, EtcdCall.Write, cancellationToken).ConfigureAwait(false);
            }
            catch (KvException e) when (attempt == 0 && EtcdErrors.IsLeaseNotFound(e))
            {
                ForgetKeepAliveLease(lease);
                continue;
            }

            if (response.Succeeded)
            {
                Written(key, value, options, lease);
                return new KVPair(key, value.ToArray(), (ulong)response.Header.Revision);
            }

            if (fence is not null && response.Responses[1].ResponseRange.Kvs is var waiter && (waiter.Count == 0 || waiter[0].CreateRevision != fence.CreateRevision))
            {
                throw FenceFailure(key, options.IfHeld!);
            }

            var found = response.Responses[0].ResponseRange.Kvs.Count > 0;
            throw previous is null ? Failure(KvErrorCode.KeyExists, key) : found ? Failure(KvErrorCode.KeyModified, key) : NotFound(key);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask AtomicDeleteCoreAsync(string key, KVPair previous, CancellationToken cancellationToken)
    {
        var full = Keys.Full(key);
        KeepAliveKeys.Forget(key);
        var txn = new TxnRequest
        {
            Compare = { CompareMod(full, previous.LastIndex) },
            Success = { new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = full } } },
            Failure = { new RequestOp { RequestRange = new RangeRequest { Key = full, KeysOnly = true } } },
        };
        var response = await Connection.TxnAsync(txn, key, EtcdCall.Write, cancellationToken).ConfigureAwait(false);
        if (!response.Succeeded)
        {
            throw response.Responses[0].ResponseRange.Kvs.Count > 0 ? Failure(KvErrorCode.KeyModified, key) : NotFound(key);
        }
    }

    /// <inheritdoc />
    protected override IObservable<KVPair?> WatchCore(string key, ReadOptions options) =>
        RunWatch<KVPair?>(async (dispatcher, ct) =>
        {
            var full = Keys.Full(key);
            var backoff = new Backoff();
            while (true)
            {
                RangeResponse read;
                try
                {
                    read = await Connection.RangeAsync(new RangeRequest { Key = full, Serializable = !options.Consistent }, key, ct).ConfigureAwait(false);
                }
                catch (KvException e) when (e.IsTransient)
                {
                    await backoff.WaitAsync(ct).ConfigureAwait(false);
                    continue;
                }

                backoff.Reset();
                dispatcher.Post(read.Kvs.Count == 0 ? null : EtcdKeys.Pair(key, read.Kvs[0]));
                using var watch = Hub.Add(full, ByteString.Empty, read.Header.Revision + 1);
                await foreach (var response in watch.Reader.ReadAllAsync(ct).ConfigureAwait(false))
                {
                    if (IsEnd(response, key))
                    {
                        break;
                    }

                    var last = response.Events[^1];
                    dispatcher.Post(last.Type == Event.Types.EventType.Put ? EtcdKeys.Pair(key, last.Kv) : null);
                }
            }
        });

    /// <inheritdoc />
    protected override IObservable<IReadOnlyList<KVPair>> WatchTreeCore(string directory, ReadOptions options) =>
        RunWatch<IReadOnlyList<KVPair>>(async (dispatcher, ct) =>
        {
            var start = Keys.TreeStart(directory);
            var end = Keys.TreeEnd(directory);
            var backoff = new Backoff();
            while (true)
            {
                RangeResponse read;
                try
                {
                    read = await Connection.RangeAsync(new RangeRequest { Key = start, RangeEnd = end, Serializable = !options.Consistent }, directory, ct).ConfigureAwait(false);
                }
                catch (KvException e) when (e.IsTransient)
                {
                    await backoff.WaitAsync(ct).ConfigureAwait(false);
                    continue;
                }

                backoff.Reset();

                // The snapshot is kept locally from the events (a sorted map), not read again after each change.
                var snapshot = new SortedDictionary<string, KVPair>(StringComparer.Ordinal);
                foreach (var kv in read.Kvs)
                {
                    if (Keys.UserKey(kv.Key) is { } userKey)
                    {
                        snapshot[userKey] = EtcdKeys.Pair(userKey, kv);
                    }
                }

                dispatcher.Post(snapshot.Values.ToArray());
                using var watch = Hub.Add(start, end, read.Header.Revision + 1);
                await foreach (var response in watch.Reader.ReadAllAsync(ct).ConfigureAwait(false))
                {
                    if (IsEnd(response, directory))
                    {
                        break;
                    }

                    var changed = false;
                    foreach (var e in response.Events)
                    {
                        if (Keys.UserKey(e.Kv.Key) is not { } userKey)
                        {
                            // Internal (lock waiters of this or a nested Root): not a change of the tree.
                            continue;
                        }

                        changed = true;
                        if (e.Type == Event.Types.EventType.Put)
                        {
                            snapshot[userKey] = EtcdKeys.Pair(userKey, e.Kv);
                        }
                        else
                        {
                            snapshot.Remove(userKey);
                        }
                    }

                    if (changed)
                    {
                        dispatcher.Post(snapshot.Values.ToArray());
                    }
                }
            }
        });

    /// <inheritdoc />
    protected override ILocker NewLockCore(string key, LockOptions options) => new EtcdLocker(this, key, options, Time);

    /// <inheritdoc />
    protected override async ValueTask DisposeCoreAsync()
    {
        // All at once: with etcd unreachable each unlock may take up to RequestTimeout.
        await Task.WhenAll(_lockers.Keys.ToArray().Select(async locker =>
        {
            try
            {
                await locker.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                EtcdLog.BackgroundFailure(_logger, e.Message);
            }
        })).ConfigureAwait(false);

        await Hub.DisposeAsync().ConfigureAwait(false);
        await KeepAliveKeys.StopAsync().ConfigureAwait(false);

        // Revoke what this store kept alive, so its keep-alive keys go now rather than after their TTL.
        var leases = Keeper.Ids;
        await Keeper.DisposeAsync().ConfigureAwait(false);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Min(2, Connection.RequestTimeout.TotalSeconds))))
        {
            await Task.WhenAll(leases.Select(async id =>
            {
                try
                {
                    await Connection.RevokeAsync(id, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is KvException or OperationCanceledException)
                {
                }
            })).ConfigureAwait(false);
        }

        Connection.Dispose();
    }

    internal static Compare CompareCreate(ByteString key, long revision) =>
        new() { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = revision };

    private static Compare CompareMod(ByteString key, ulong revision) =>
        new() { Key = key, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = (long)revision };

    private static KvException NotFound(string key) => Failure(KvErrorCode.KeyNotFound, key);

    /// <summary>The compare that fences a write by <see cref="WriteOptions.IfHeld"/>, or null when the write is not fenced.</summary>
    private static Compare? FenceOf(string key, WriteOptions options) =>
        options.IfHeld is not EtcdLocker locker ? null : locker.FenceCompare() ?? throw FenceFailure(key, locker);

    private static KvException FenceFailure(string key, ILocker locker) =>
        new(KvErrorCode.LockNotHeld, $"The write of '{key}' is fenced by the lock '{locker.Key}', which this client no longer holds at the server; nothing was written.", key);

    private static KvException Failure(KvErrorCode code, string key) => code switch
    {
        KvErrorCode.KeyNotFound => new KvException(code, $"Key '{key}' not found.", key),
        KvErrorCode.KeyExists => new KvException(code, $"Key '{key}' already exists.", key),
        _ => new KvException(code, $"Key '{key}' was modified since the given version.", key),
    };

    private IReadOnlyList<KVPair> ToList(IList<KeyValue> kvs)
    {
        var list = new List<KVPair>(kvs.Count);
        foreach (var kv in kvs)
        {
            if (Keys.UserKey(kv.Key) is { } userKey)
            {
                list.Add(EtcdKeys.Pair(userKey, kv));
            }
        }

        // etcd sorts by UTF-8 bytes; ordinal UTF-16 order differs only around surrogates, so sort only when needed.
        for (var i = 1; i < list.Count; i++)
        {
            if (string.CompareOrdinal(list[i - 1].Key, list[i].Key) > 0)
            {
                list.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
                break;
            }
        }

        return list;
    }

    private bool IsEnd(WatchResponse response, string key)
    {
        if (!response.Canceled && response.CompactRevision == 0)
        {
            return false;
        }

        if (response.CancelReason.Contains("permission denied", StringComparison.OrdinalIgnoreCase) || response.CancelReason.Contains("auth", StringComparison.OrdinalIgnoreCase))
        {
            throw new KvException(KvErrorCode.Unauthorized, $"etcd cancelled the watch of '{key}': {response.CancelReason}", key);
        }

        if (response.CancelReason == EtcdWatchHub.ResetReason)
        {
            // The state read next may have a lower LastIndex than the last one delivered: order from it.
            NoteIndexReset();
            return true;
        }

        EtcdLog.WatchCompacted(_logger, key, response.CompactRevision);
        EtcdMetrics.WatchResyncs.Add(1);
        return true;
    }

    private async ValueTask<long> LeaseForAsync(WriteOptions options, CancellationToken cancellationToken)
    {
        if (options.Ttl is not { } ttl)
        {
            return 0;
        }

        // A kept lease is granted under the store's token, not the caller's: check the caller's first, so it sends nothing.
        cancellationToken.ThrowIfCancellationRequested();

        if (!options.KeepAlive)
        {
            return (await Connection.GrantAsync(TtlSeconds(ttl), cancellationToken).ConfigureAwait(false)).ID;
        }

        var seconds = KeptTtlSeconds(ttl);
        while (true)
        {
            var lazy = _keepAliveLeases.GetOrAdd(seconds, s => new Lazy<Task<long>>(() => GrantKeptAsync(s)));
            try
            {
                return await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (KvException)
            {
                _keepAliveLeases.TryRemove(new KeyValuePair<long, Lazy<Task<long>>>(seconds, lazy));
                throw;
            }
        }
    }

    private async Task<long> GrantKeptAsync(long seconds)
    {
        var response = await Connection.GrantAsync(seconds, Closing).ConfigureAwait(false);
        var id = response.ID;
        Keeper.Add(id, response.TTL, _ => KeptLeaseLost(id), loseOnDeadline: false);
        return id;
    }

    /// <summary>The lease of some keep-alive keys ended (revoked, expired): write them again on a new one.</summary>
    private void KeptLeaseLost(long id)
    {
        ForgetKeepAliveLease(id);

        // The keys are marked first, so the state cannot go back to Reconnected before they are written again.
        var any = KeepAliveKeys.LeaseLost(id);
        Connection.Reachability.LeaseLost();
        if (!any)
        {
            Connection.Reachability.RewritesDone();
        }
    }

    /// <summary>After a successful write: a keep-alive write is kept (and written again if its lease ends), any other ends it.</summary>
    private void Written(string key, ReadOnlyMemory<byte> value, WriteOptions options, long lease)
    {
        if (!options.KeepAlive || options.Ttl is not { } ttl)
        {
            KeepAliveKeys.Forget(key);
            return;
        }

        KeepAliveKeys.Register(key, value, ttl, lease);
        if (!Keeper.Contains(lease))
        {
            // The lease ended while the write was on its way.
            KeptLeaseLost(lease);
        }
    }

    /// <summary>Writes a keep-alive key whose lease ended again with its last value, on a new lease, unless something else wrote it meanwhile.</summary>
    private async Task<bool> RewriteKeepAliveAsync(EtcdKeepAliveKeys.Registration registration, CancellationToken cancellationToken)
    {
        if (!KeepAliveKeys.IsCurrent(registration))
        {
            return false;
        }

        var lease = await LeaseForAsync(new WriteOptions { Ttl = registration.Ttl, KeepAlive = true }, cancellationToken).ConfigureAwait(false);
        var full = Keys.Full(registration.Key);

        // Only where the key is gone (with its lease): a write by anyone else since then stands.
        var txn = new TxnRequest
        {
            Compare = { CompareCreate(full, 0) },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = full, Value = ByteString.CopyFrom(registration.Value), Lease = lease } } },
        };
        TxnResponse response;
        try
        {
            response = await Connection.TxnAsync(txn, registration.Key, EtcdCall.SafeWrite, cancellationToken).ConfigureAwait(false);
        }
        catch (KvException e) when (EtcdErrors.IsLeaseNotFound(e))
        {
            ForgetKeepAliveLease(lease);
            throw;
        }

        if (!response.Succeeded)
        {
            EtcdLog.KeepAliveNotRewritten(_logger, registration.Key);
            return false;
        }

        registration.Lease = lease;
        if (!KeepAliveKeys.IsCurrent(registration))
        {
            // Deleted through this store while it was being written: undo it, unless something wrote it since.
            var undo = new TxnRequest
            {
                Compare = { new Compare { Key = full, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = response.Header.Revision } },
                Success = { new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = full } } },
            };
            await Connection.TxnAsync(undo, registration.Key, EtcdCall.SafeWrite, cancellationToken).ConfigureAwait(false);
            return false;
        }

        EtcdLog.KeepAliveRewritten(_logger, registration.Key);
        if (!Keeper.Contains(lease))
        {
            KeptLeaseLost(lease);
        }

        return true;
    }

    private void ForgetKeepAliveLease(long id)
    {
        foreach (var (seconds, lazy) in _keepAliveLeases)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully && lazy.Value.Result == id)
            {
                _keepAliveLeases.TryRemove(new KeyValuePair<long, Lazy<Task<long>>>(seconds, lazy));
            }
        }
    }

    private IObservable<T> RunWatch<T>(Func<LatestValueDispatcher<T>, CancellationToken, Task> body) =>
        Observable.Create<T>(observer =>
        {
            // Linked to the store's token, so it is disposed with the subscription: else each one would stay registered there.
            var cts = CancellationTokenSource.CreateLinkedTokenSource(Closing);
            var token = cts.Token;
            var dispatcher = new LatestValueDispatcher<T>(observer);
            _ = Task.Run(async () =>
            {
                try
                {
                    await body(dispatcher, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                }
                catch (Exception e)
                {
                    dispatcher.Stop();
                    observer.OnError(e is KvException ? e : new KvException(KvErrorCode.Unavailable, "The etcd watch failed: " + e.Message, innerException: e, isTransient: false));
                }
            });
            return Disposable.Create(() =>
            {
                dispatcher.Stop();
                cts.Cancel();
                cts.Dispose();
            });
        });
}
