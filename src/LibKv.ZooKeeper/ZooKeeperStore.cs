using System.Globalization;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Security.Cryptography;
using System.Text;
using LibKv.Core;
using LibKv.ZooKeeper.Client;
using LibKv.ZooKeeper.Jute;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LibKv.ZooKeeper;

/// <summary>
/// The ZooKeeper backend (<c>zookeeper</c>, alias <c>zk</c>): the contract's flat keyspace on ZooKeeper's tree over
/// LibKv's own pipelined client. Needs ZooKeeper 3.6+ (persistent watches); TTL keys need extended types enabled.
/// </summary>
/// <code>
/// await using var store = await StoreFactory.Default.CreateAsync("zookeeper", new StoreOptions { Endpoints = { "127.0.0.1:2181" } });
/// </code>
public sealed class ZooKeeperStore : KvStoreBase
{
    /// <summary>The backend name.</summary>
    public const string BackendName = "zookeeper";

    /// <summary>The endpoint used when none is given.</summary>
    public const string DefaultEndpoint = "127.0.0.1:2181";

    /// <summary>ZooKeeper's default jute.maxbuffer: the largest request a server accepts.</summary>
    public const int JuteMaxBuffer = 1024 * 1024;

    private const int MaxAttempts = 32;
    private const long MaxTtlMs = 0xFFFFFFFFFFL;

    private readonly ILogger _logger;
    private readonly Acl[] _acl;

    private ZooKeeperStore(StoreOptions options)
        : base(options)
    {
        var loggerFactory = Options.LoggerFactory ?? NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger<ZooKeeperStore>();
        Paths = new ZooKeeperPaths(Root);
        var endpoints = Endpoint.ParseAll(Options.Endpoints, DefaultEndpoint);
        // An https:// endpoint or Tls.Enabled: TLS on every connection (the servers' secureClientPort).
        var tls = TlsSetup.For(Options, endpoints);
        var hosts = endpoints.Select(e => (e.Host, e.Port)).ToList();
        var auth = new List<(string, byte[])>();
        if (!string.IsNullOrEmpty(Options.Username))
        {
            auth.Add(("digest", Encoding.UTF8.GetBytes(Options.Username + ":" + (Options.Password ?? string.Empty))));
            _acl = Acl.CreatorAll;
        }
        else
        {
            _acl = Acl.OpenUnsafe;
        }

        var clientLogger = loggerFactory.CreateLogger<ZooKeeperClient>();
        ZooKeeperClient Open(TimeSpan sessionTimeout) => new(
            new ZooKeeperClientOptions
            {
                Hosts = hosts,
                SessionTimeout = sessionTimeout,
                ConnectionTimeout = CallDeadline.Clamp(Options.ConnectionTimeout),
                RequestTimeout = CallDeadline.Clamp(Options.RequestTimeout),
                Auth = auth,
                Time = Time,
                Tls = tls,
            },
            clientLogger);
        Client = Open(Options.SessionTimeout);
        Sessions = new ZooKeeperSessions(Client, Open);
        Sessions.Changed += OnSessionChanged;
        _restorer = new KeepAliveRestorer(this, KeepAlives);

        // On the connection's reader, before the re-read that sees the lower zxids is delivered.
        Client.ZxidWentBack += NoteIndexReset;
    }

    /// <inheritdoc />
    public override string Backend => BackendName;

    internal ZooKeeperClient Client { get; }

    /// <summary>The main session and the TTL classes' sessions.</summary>
    internal ZooKeeperSessions Sessions { get; }

    /// <summary>The keep-alive keys to write again after a session loss.</summary>
    internal KeepAliveKeys KeepAlives { get; } = new();

    private readonly KeepAliveRestorer _restorer;

    internal ZooKeeperPaths Paths { get; }

    internal ILogger Logger => _logger;

    internal TimeProvider Clock => Time;

    /// <summary>Cancelled once the store closes; safe to read after disposal.</summary>
    internal CancellationToken ClosingToken => IsDisposed ? new CancellationToken(canceled: true) : Closing;

    /// <summary>Creates a store and waits until a server of <see cref="StoreOptions.Endpoints"/> has opened a session.</summary>
    public static async ValueTask<ZooKeeperStore> ConnectAsync(StoreOptions options, CancellationToken cancellationToken = default)
    {
        var store = new ZooKeeperStore(options);
        try
        {
            await store.Client.StartAsync(cancellationToken).ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The digest id ZooKeeper derives from a user and password ("user:base64(sha1(user:password))"), for ACLs.</summary>
    public static string DigestId(string user, string password) =>
        user + ":" + Convert.ToBase64String(SHA1.HashData(Encoding.UTF8.GetBytes(user + ":" + password)));

    /// <inheritdoc />
    protected override async ValueTask PutCoreAsync(string key, ReadOnlyMemory<byte> value, WriteOptions options, CancellationToken cancellationToken)
    {
        using var call = StartCall(ref cancellationToken);
        try
        {
            var kind = KindOf(options, key);
            if (kind.Mode == CreateMode.Ephemeral)
            {
                var client = await Sessions.ForTtlAsync(options.Ttl!.Value, "keep-alive TTL", key, cancellationToken).ConfigureAwait(false);

                // Registered before the write, so that a rewrite after a session loss never brings back an older value.
                var previous = KeepAlives.Get(key);
                var entry = KeepAlives.Set(key, value.ToArray(), client);
                try
                {
                    await WriteAsync(client, key, value, kind, Condition.None, 0, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is ZooKeeperException or KvException { Code: not KvErrorCode.Unavailable })
                {
                    KeepAlives.Restore(key, entry, previous);
                    throw;
                }

                await CatchUpAsync(client, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (FenceOf(options, key) is { } fence)
            {
                // Forgotten as a keep-alive key only once the fenced write went through: a refused one changes nothing.
                await WriteAsync(Client, key, value, kind, Condition.None, 0, cancellationToken, fence).ConfigureAwait(false);
                KeepAlives.Remove(key);
                return;
            }

            KeepAlives.Remove(key);
            if (kind.Mode != CreateMode.Persistent)
            {
                await WriteAsync(Client, key, value, kind, Condition.None, 0, cancellationToken).ConfigureAwait(false);
                return;
            }

            var path = Paths.PathOf(key);
            for (var attempt = 0; attempt < MaxAttempts; attempt++)
            {
                try
                {
                    var stat = await Client.SetDataAsync(path, value, -1, cancellationToken).ConfigureAwait(false);
                    if (stat.EphemeralOwner != 0 || stat.IsMarkedTtl)
                    {
                        // It was a TTL or keep-alive key: a plain Put makes it permanent.
                        await WriteAsync(Client, key, value, kind, Condition.None, 0, cancellationToken).ConfigureAwait(false);
                    }

                    return;
                }
                catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
                {
                }

                try
                {
                    await Client.CreateAsync(path, value, AclFor(path), CreateMode.Persistent, 0, cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
                {
                    await EnsureParentsAsync(Client, key, path, cancellationToken).ConfigureAwait(false);
                }
                catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NodeExists)
                {
                }
            }

            throw TooBusy(key);
        }
        catch (ZooKeeperException e)
        {
            throw Map(e, key);
        }
        catch (OperationCanceledException e) when (call.TimedOut)
        {
            throw CallTimedOut(key, e);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask<KVPair> GetCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken)
    {
        using var call = StartCall(ref cancellationToken);
        try
        {
            var node = await ReadAsync(key, options.Consistent, cancellationToken).ConfigureAwait(false);
            return node is { Data: { } data } ? new KVPair(key, data, (ulong)node.Stat.Mzxid) : throw ZooKeeperErrors.NotFound(key);
        }
        catch (OperationCanceledException e) when (call.TimedOut)
        {
            throw CallTimedOut(key, e);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask<bool> ExistsCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken)
    {
        using var call = StartCall(ref cancellationToken);
        try
        {
            var node = await ReadAsync(key, options.Consistent, cancellationToken).ConfigureAwait(false);
            return node is { Data: not null };
        }
        catch (OperationCanceledException e) when (call.TimedOut)
        {
            throw CallTimedOut(key, e);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask DeleteCoreAsync(string key, CancellationToken cancellationToken)
    {
        using var call = StartCall(ref cancellationToken);
        KeepAlives.Remove(key);
        try
        {
            var path = Paths.PathOf(key);
            for (var attempt = 0; attempt < MaxAttempts; attempt++)
            {
                var node = await Client.TryGetDataAsync(path, cancellationToken).ConfigureAwait(false);
                if (node is not { Data: not null })
                {
                    throw ZooKeeperErrors.NotFound(key);
                }

                try
                {
                    if (await RemoveAsync(path, node.Stat, cancellationToken).ConfigureAwait(false) is not null)
                    {
                        return;
                    }
                }
                catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
                {
                    throw ZooKeeperErrors.NotFound(key);
                }
            }

            throw TooBusy(key);
        }
        catch (ZooKeeperException e)
        {
            throw Map(e, key);
        }
        catch (OperationCanceledException e) when (call.TimedOut)
        {
            throw CallTimedOut(key, e);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask<IReadOnlyList<KVPair>> ListCoreAsync(string directory, ReadOptions options, CancellationToken cancellationToken)
    {
        using var call = StartCall(ref cancellationToken);
        try
        {
            var list = await ListOrNullAsync(directory, options.Consistent, cancellationToken).ConfigureAwait(false);
            return list ?? throw ZooKeeperErrors.NotFound(directory);
        }
        catch (ZooKeeperException e)
        {
            throw Map(e, directory);
        }
        catch (OperationCanceledException e) when (call.TimedOut)
        {
            throw CallTimedOut(directory, e);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask DeleteTreeCoreAsync(string directory, CancellationToken cancellationToken)
    {
        using var call = StartCall(ref cancellationToken);
        KeepAlives.RemoveTree(directory);
        try
        {
            var path = Paths.PathOf(directory);
            for (var attempt = 0; attempt < MaxAttempts; attempt++)
            {
                var self = await Client.TryGetDataAsync(path, cancellationToken).ConfigureAwait(false);
                var nodes = new List<(string Path, string Key, NodeData Node, int Depth)>();
                if (self is not null)
                {
                    await CollectAsync(path, directory, 1, nodes, cancellationToken).ConfigureAwait(false);
                }

                if (self is not { Data: not null } && !nodes.Exists(n => n.Node.Data is not null))
                {
                    throw ZooKeeperErrors.NotFound(directory);
                }

                var ops = new List<MultiOp>(nodes.Count + 1);
                foreach (var n in nodes.OrderByDescending(n => n.Depth))
                {
                    ops.Add(new MultiOp.DeleteOp(n.Path, -1));
                }

                ops.Add(new MultiOp.DeleteOp(path, -1));
                if (await DeleteInBatchesAsync(ops, cancellationToken).ConfigureAwait(false))
                {
                    await CleanupParentsAsync(ZooKeeperPaths.Parent(path), cancellationToken).ConfigureAwait(false);
                    return;
                }
            }

            throw TooBusy(directory);
        }
        catch (ZooKeeperException e)
        {
            throw Map(e, directory);
        }
        catch (OperationCanceledException e) when (call.TimedOut)
        {
            throw CallTimedOut(directory, e);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask<KVPair> AtomicPutCoreAsync(string key, ReadOnlyMemory<byte> value, KVPair? previous, WriteOptions options, CancellationToken cancellationToken)
    {
        using var call = StartCall(ref cancellationToken);
        try
        {
            var kind = KindOf(options, key);
            var client = kind.Mode == CreateMode.Ephemeral
                ? await Sessions.ForTtlAsync(options.Ttl!.Value, "keep-alive TTL", key, cancellationToken).ConfigureAwait(false)
                : Client;
            var stat = await WriteAsync(client, key, value, kind, previous is null ? Condition.Create : Condition.Match, previous?.LastIndex ?? 0, cancellationToken, FenceOf(options, key)).ConfigureAwait(false);
            if (kind.Mode == CreateMode.Ephemeral)
            {
                KeepAlives.Set(key, value.ToArray(), client);
                await CatchUpAsync(client, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                KeepAlives.Remove(key);
            }

            return new KVPair(key, value.ToArray(), (ulong)stat.Mzxid);
        }
        catch (ZooKeeperException e)
        {
            throw Map(e, key);
        }
        catch (OperationCanceledException e) when (call.TimedOut)
        {
            throw CallTimedOut(key, e);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask AtomicDeleteCoreAsync(string key, KVPair previous, CancellationToken cancellationToken)
    {
        using var call = StartCall(ref cancellationToken);
        try
        {
            var path = Paths.PathOf(key);
            var node = await Client.TryGetDataAsync(path, cancellationToken).ConfigureAwait(false);
            if (node is not { Data: not null })
            {
                throw ZooKeeperErrors.NotFound(key);
            }

            if ((ulong)node.Stat.Mzxid != previous.LastIndex)
            {
                throw ZooKeeperErrors.Modified(key);
            }

            if (await RemoveAsync(path, node.Stat, cancellationToken).ConfigureAwait(false) is null)
            {
                throw ZooKeeperErrors.Modified(key);
            }

            KeepAlives.Remove(key);
        }
        catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
        {
            throw ZooKeeperErrors.NotFound(key);
        }
        catch (ZooKeeperException e)
        {
            throw Map(e, key);
        }
        catch (OperationCanceledException e) when (call.TimedOut)
        {
            throw CallTimedOut(key, e);
        }
    }

    /// <inheritdoc />
    protected override IObservable<KVPair?> WatchCore(string key, ReadOptions options)
    {
        var path = Paths.PathOf(key);
        return Observable.Create<KVPair?>(observer =>
        {
            var dispatcher = new LatestValueDispatcher<KVPair?>(observer);
            var refresher = new WatchRefresher(
                this,
                path,
                async ct =>
                {
                    var node = await ReadAsync(key, options.Consistent, ct).ConfigureAwait(false);
                    dispatcher.Post(node is { Data: { } data } ? new KVPair(key, data, (ulong)node.Stat.Mzxid) : null);
                },
                e =>
                {
                    dispatcher.Stop();
                    observer.OnError(e);
                });
            var registration = Client.AddWatch(path, AddWatchMode.Persistent, _ => refresher.Trigger(), refresher.Trigger);
            refresher.Trigger();
            return Disposable.Create(() =>
            {
                registration.Dispose();
                refresher.Stop();
                dispatcher.Stop();
            });
        });
    }

    /// <inheritdoc />
    protected override IObservable<IReadOnlyList<KVPair>> WatchTreeCore(string directory, ReadOptions options)
    {
        var path = Paths.PathOf(directory);
        return Observable.Create<IReadOnlyList<KVPair>>(observer =>
        {
            var dispatcher = new LatestValueDispatcher<IReadOnlyList<KVPair>>(observer);
            var refresher = new WatchRefresher(
                this,
                path,
                async ct =>
                {
                    var list = await ListOrNullAsync(directory, options.Consistent, ct).ConfigureAwait(false);
                    dispatcher.Post(list ?? Array.Empty<KVPair>());
                },
                e =>
                {
                    dispatcher.Stop();
                    observer.OnError(e);
                });
            var registration = Client.AddWatch(
                path,
                AddWatchMode.PersistentRecursive,
                e =>
                {
                    if (!Paths.IsInLocks(e.Path))
                    {
                        refresher.Trigger();
                    }
                },
                refresher.Trigger);
            refresher.Trigger();
            return Disposable.Create(() =>
            {
                registration.Dispose();
                refresher.Stop();
                dispatcher.Stop();
            });
        });
    }

    /// <inheritdoc />
    protected override bool SupportsFencedWrites => true;

    /// <inheritdoc />
    protected override bool OwnsLocker(ILocker locker) => locker is ZooKeeperLocker z && ReferenceEquals(z.Store, this);

    /// <inheritdoc />
    protected override ILocker NewLockCore(string key, LockOptions options) => new ZooKeeperLocker(this, key, options);

    /// <summary>
    /// A session change moves <see cref="IStore.States"/> (Suspended when a connection drops, SessionLost when a session
    /// ends, Reconnected once every session is connected again); keep-alive keys of a lost session are written again
    /// on its successor.
    /// </summary>
    private void OnSessionChanged(ZooKeeperClient client, SessionChange change)
    {
        if (IsDisposed)
        {
            return;
        }

        switch (change)
        {
            case SessionChange.Disconnected:
                SetState(StoreState.Suspended);
                break;
            case SessionChange.SessionLost:
                SetState(StoreState.SessionLost);
                break;
            case SessionChange.NewSession:
                _ = Task.Run(() => _restorer.RestoreAsync(client));
                goto default;
            default:
                if (Sessions.All.All(c => c.IsConnected))
                {
                    SetState(StoreState.Reconnected);
                }

                break;
        }
    }

    /// <summary>Writes a keep-alive key as an ephemeral node of <paramref name="client"/>'s session (a rewrite after a session loss).</summary>
    internal async Task WriteKeepAliveAsync(ZooKeeperClient client, string key, byte[] value, CancellationToken cancellationToken) =>
        await WriteAsync(client, key, value, new NodeKind(CreateMode.Ephemeral, 0), Condition.None, 0, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// After a write on a TTL class's session: a sync of the main session, so that its reads (on another server of
    /// the ensemble, perhaps) see the write. The write is done either way; a failed sync only costs that guarantee.
    /// </summary>
    private async Task CatchUpAsync(ZooKeeperClient client, CancellationToken cancellationToken)
    {
        if (ReferenceEquals(client, Client))
        {
            return;
        }

        try
        {
            await Client.SyncSharedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KvException or OperationCanceledException or ZooKeeperException)
        {
            Log.BackgroundFailed(_logger, "/", e.Message);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask DisposeCoreAsync() => await Sessions.DisposeAsync().ConfigureAwait(false);

    /// <summary>The ACL of a new node: the store's (creator-only with credentials) at or under the root, open above it.</summary>
    internal IReadOnlyList<Acl> AclFor(string path) => Paths.IsInStore(path) ? _acl : Acl.OpenUnsafe;

    /// <summary>Creates every missing ancestor of <paramref name="path"/> as a hidden (null data) node, pipelined top-down.</summary>
    internal async Task EnsureParentsAsync(ZooKeeperClient client, string key, string path, CancellationToken cancellationToken, CreateMode mode = CreateMode.Persistent)
    {
        var ancestors = ZooKeeperPaths.Ancestors(path);
        var tasks = new List<Task>(ancestors.Count);
        foreach (var a in ancestors)
        {
            var m = mode == CreateMode.Container && Paths.IsInLocks(a) ? CreateMode.Container : CreateMode.Persistent;
            tasks.Add(client.CreateAsync(a, null, AclFor(a), m, 0, cancellationToken));
        }

        foreach (var t in tasks)
        {
            try
            {
                await t.ConfigureAwait(false);
            }
            catch (ZooKeeperException e) when (e.Error is ZooKeeperErrors.NodeExists or ZooKeeperErrors.NoNode)
            {
            }
            catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoChildrenForEphemerals)
            {
                throw new KvException(KvErrorCode.NotSupported, $"'{key}' lies under a keep-alive key; ZooKeeper's ephemeral nodes cannot have children.", key);
            }
        }
    }

    /// <summary>Removes hidden parents left empty, upwards from <paramref name="path"/> to the root (kept).</summary>
    internal async Task CleanupParentsAsync(string path, CancellationToken cancellationToken, Task<NodeData?>? firstRead = null)
    {
        try
        {
            while (IsCleanable(path))
            {
                var node = firstRead is not null ? await firstRead.ConfigureAwait(false) : await Client.TryGetDataAsync(path, cancellationToken).ConfigureAwait(false);
                firstRead = null;
                if (node is not null)
                {
                    if (node.Data is not null || node.Stat.NumChildren > 0 || node.Stat.EphemeralOwner != 0)
                    {
                        return;
                    }

                    try
                    {
                        await Client.DeleteAsync(path, node.Stat.Version, cancellationToken).ConfigureAwait(false);
                    }
                    catch (ZooKeeperException e) when (e.Error is ZooKeeperErrors.NotEmpty or ZooKeeperErrors.BadVersion)
                    {
                        return;
                    }
                    catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
                    {
                    }
                }

                path = ZooKeeperPaths.Parent(path);
            }
        }
        catch (Exception e) when (e is ZooKeeperException or KvException or OperationCanceledException)
        {
            // Hidden parents are invisible; a leftover one costs nothing but a node, and the write itself is done.
            Log.BackgroundFailed(_logger, path, e.Message);
        }
    }

    /// <summary>Reads a key's node (sync first, pipelined, when consistent); null when missing.</summary>
    private async Task<NodeData?> ReadAsync(string key, bool consistent, CancellationToken cancellationToken)
    {
        var path = Paths.PathOf(key);
        try
        {
            var sync = consistent ? Client.SyncSharedAsync(cancellationToken) : null;
            var read = Client.TryGetDataAsync(path, cancellationToken);
            if (sync is not null)
            {
                try
                {
                    await sync.ConfigureAwait(false);
                }
                catch
                {
                    _ = read.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    throw;
                }
            }

            return await read.ConfigureAwait(false);
        }
        catch (ZooKeeperException e)
        {
            throw Map(e, key);
        }
    }

    private async Task<IReadOnlyList<KVPair>?> ListOrNullAsync(string directory, bool consistent, CancellationToken cancellationToken)
    {
        var path = Paths.PathOf(directory);
        if (consistent)
        {
            await Client.SyncSharedAsync(cancellationToken).ConfigureAwait(false);
        }

        var selfTask = directory.Length == 0 ? Task.FromResult<NodeData?>(null) : Client.TryGetDataAsync(path, cancellationToken);
        var nodes = new List<(string Path, string Key, NodeData Node, int Depth)>();
        await CollectAsync(path, directory, 1, nodes, cancellationToken).ConfigureAwait(false);
        var self = await selfTask.ConfigureAwait(false);
        var list = new List<KVPair>(nodes.Count);
        foreach (var n in nodes)
        {
            if (n.Node.Data is { } data)
            {
                list.Add(new KVPair(n.Key, data, (ulong)n.Node.Stat.Mzxid));
            }
        }

        if (list.Count == 0 && (directory.Length == 0 || self is not { Data: not null }))
        {
            return null;
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return list;
    }

    /// <summary>Reads every node under <paramref name="path"/> (hidden ones too), children of a node read in parallel.</summary>
    private async Task CollectAsync(string path, string key, int depth, List<(string Path, string Key, NodeData Node, int Depth)> into, CancellationToken cancellationToken)
    {
        List<string> children;
        try
        {
            children = await Client.GetChildrenAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
        {
            return;
        }

        var tasks = new List<Task>(children.Count);
        foreach (var name in children)
        {
            if (Paths.IsInternalChild(path, name))
            {
                continue;
            }

            tasks.Add(ReadChildAsync(path == "/" ? "/" + name : path + "/" + name, ZooKeeperPaths.ChildKey(key, name)));
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);

        async Task ReadChildAsync(string childPath, string childKey)
        {
            var node = await Client.TryGetDataAsync(childPath, cancellationToken).ConfigureAwait(false);
            if (node is null)
            {
                return;
            }

            lock (into)
            {
                into.Add((childPath, childKey, node, depth));
            }

            if (node.Stat.NumChildren > 0)
            {
                await CollectAsync(childPath, childKey, depth + 1, into, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Runs the deletes as one multi (several when the tree is too big for one request); false when the tree changed.</summary>
    private async Task<bool> DeleteInBatchesAsync(List<MultiOp> ops, CancellationToken cancellationToken)
    {
        var batches = new List<List<MultiOp>>();
        var current = new List<MultiOp>();
        var bytes = 0;
        foreach (var op in ops)
        {
            var size = Encoding.UTF8.GetByteCount(op.Path) + 24;
            if (current.Count > 0 && bytes + size > JuteMaxBuffer / 2)
            {
                batches.Add(current);
                current = new List<MultiOp>();
                bytes = 0;
            }

            current.Add(op);
            bytes += size;
        }

        batches.Add(current);
        foreach (var batch in batches)
        {
            var results = await Client.MultiAsync(batch, cancellationToken).ConfigureAwait(false);
            var error = FirstError(results);
            if (error is ZooKeeperErrors.NoNode or ZooKeeperErrors.NotEmpty or ZooKeeperErrors.BadVersion)
            {
                return false;
            }

            if (error != ZooKeeperErrors.Ok)
            {
                throw new ZooKeeperException(error, batch[0].Path);
            }
        }

        return true;
    }

    private static int FirstError(List<MultiResult> results)
    {
        foreach (var r in results)
        {
            if (r.Error != ZooKeeperErrors.Ok && r.Error != -2)
            {
                return r.Error;
            }
        }

        return ZooKeeperErrors.Ok;
    }

    /// <summary>
    /// Deletes a key's node at <paramref name="stat"/>'s version (then removes parents left empty), or sets its data to
    /// null when it has children; true when the node went, false when it stays as a hidden parent, null when it
    /// changed meanwhile.
    /// </summary>
    private async Task<bool?> RemoveAsync(string path, Stat stat, CancellationToken cancellationToken)
    {
        if (stat.NumChildren == 0)
        {
            // The parent's read is pipelined behind the delete, so it already sees the parent without this child.
            var parent = ZooKeeperPaths.Parent(path);
            var delete = Client.DeleteAsync(path, stat.Version, cancellationToken);
            var parentRead = IsCleanable(parent) ? Client.TryGetDataAsync(parent, cancellationToken) : null;
            var notEmpty = false;
            try
            {
                await delete.ConfigureAwait(false);
            }
            catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NotEmpty)
            {
                notEmpty = true;
            }
            catch
            {
                Observe(parentRead);
                throw;
            }

            if (!notEmpty)
            {
                await CleanupParentsAsync(parent, cancellationToken, parentRead).ConfigureAwait(false);
                return true;
            }

            Observe(parentRead);
        }

        try
        {
            await Client.SetDataAsync(path, null, stat.Version, cancellationToken).ConfigureAwait(false);
            return false;
        }
        catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.BadVersion)
        {
            return null;
        }
    }

    private static void Observe(Task? task) =>
        task?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    private bool IsCleanable(string path) =>
        Paths.IsInStore(path) && !string.Equals(path, Paths.RootPath, StringComparison.Ordinal) && path != "/";

    /// <summary>Writes a key as a node of <paramref name="kind"/> under <paramref name="condition"/>, replacing a node of another kind.</summary>
    private async Task<Stat> WriteAsync(ZooKeeperClient client, string key, ReadOnlyMemory<byte> value, NodeKind kind, Condition condition, ulong expected, CancellationToken cancellationToken, ZooKeeperFence? fence = null)
    {
        var path = Paths.PathOf(key);
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var node = await client.TryGetDataAsync(path, cancellationToken).ConfigureAwait(false);
            if (node is null)
            {
                if (condition == Condition.Match)
                {
                    throw ZooKeeperErrors.NotFound(key);
                }

                try
                {
                    var create = fence is null
                        ? CreateAsync(client, path, value, kind, cancellationToken)
                        : fence.RunAsync(client, new MultiOp.CreateOp(path, value, AclFor(path), kind.Mode, kind.TtlMs), key, cancellationToken);
                    var mark = kind.Mode == CreateMode.PersistentWithTtl && !create.IsCanceled ? MarkTtlAsync(client, path, cancellationToken) : null;
                    Stat created;
                    try
                    {
                        created = (await create.ConfigureAwait(false))!;
                    }
                    catch
                    {
                        Observe(mark);
                        throw;
                    }

                    return mark is null ? created : await mark.ConfigureAwait(false) ?? created;
                }
                catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
                {
                    await EnsureParentsAsync(client, key, path, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NodeExists)
                {
                    continue;
                }
                catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.Unimplemented && kind.Mode == CreateMode.PersistentWithTtl)
                {
                    throw TtlNotSupported(key);
                }
            }

            var isKey = node.Data is not null;
            if (condition == Condition.Create && isKey)
            {
                throw ZooKeeperErrors.Exists(key);
            }

            if (condition == Condition.Match)
            {
                if (!isKey)
                {
                    throw ZooKeeperErrors.NotFound(key);
                }

                if ((ulong)node.Stat.Mzxid != expected)
                {
                    throw ZooKeeperErrors.Modified(key);
                }
            }

            if (kind.Matches(node.Stat, client.SessionId))
            {
                try
                {
                    return fence is null
                        ? await client.SetDataAsync(path, value, node.Stat.Version, cancellationToken).ConfigureAwait(false)
                        : (await fence.RunAsync(client, new MultiOp.SetDataOp(path, value, node.Stat.Version), key, cancellationToken).ConfigureAwait(false))!;
                }
                catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.BadVersion)
                {
                    if (condition == Condition.Match)
                    {
                        throw ZooKeeperErrors.Modified(key);
                    }

                    continue;
                }
                catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
                {
                    if (condition == Condition.Match)
                    {
                        throw ZooKeeperErrors.NotFound(key);
                    }

                    continue;
                }
            }

            if (node.Stat.NumChildren > 0)
            {
                throw new KvException(
                    KvErrorCode.NotSupported,
                    $"'{key}' has keys under it, so ZooKeeper cannot turn its node into a {kind.Describe()} node (ephemeral nodes cannot have children; TTL nodes with children outlive their TTL).",
                    key);
            }

            var replace = new MultiOp[]
            {
                new MultiOp.DeleteOp(path, node.Stat.Version),
                new MultiOp.CreateOp(path, value, AclFor(path), kind.Mode, kind.TtlMs),
            };
            List<MultiResult> results;
            if (fence is null)
            {
                results = await client.MultiAsync(replace, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                try
                {
                    results = await fence.RunAsync(client, replace, key, cancellationToken).ConfigureAwait(false);
                }
                catch (ZooKeeperException e)
                {
                    results = [new MultiResult(e.Error, null, null)];
                }
            }

            var error = FirstError(results);
            if (error == ZooKeeperErrors.Ok)
            {
                var stat = results[1].Stat ?? (await client.GetDataAsync(path, cancellationToken).ConfigureAwait(false)).Stat;
                return kind.Mode == CreateMode.PersistentWithTtl ? await MarkTtlAsync(client, path, cancellationToken).ConfigureAwait(false) ?? stat : stat;
            }

            if (error == ZooKeeperErrors.Unimplemented && kind.Mode == CreateMode.PersistentWithTtl)
            {
                throw TtlNotSupported(key);
            }

            if (error is ZooKeeperErrors.BadVersion or ZooKeeperErrors.NoNode or ZooKeeperErrors.NotEmpty)
            {
                if (condition == Condition.Match)
                {
                    throw error == ZooKeeperErrors.NoNode ? ZooKeeperErrors.NotFound(key) : ZooKeeperErrors.Modified(key);
                }

                continue;
            }

            throw new ZooKeeperException(error, path);
        }

        throw TooBusy(key);
    }

    private async Task<Stat?> CreateAsync(ZooKeeperClient client, string path, ReadOnlyMemory<byte> value, NodeKind kind, CancellationToken cancellationToken) =>
        (await client.CreateAsync(path, value, AclFor(path), kind.Mode, kind.TtlMs, cancellationToken).ConfigureAwait(false)).Stat;

    /// <summary>The server-side fence of a write with <see cref="WriteOptions.IfHeld"/>; null without one.</summary>
    private static ZooKeeperFence? FenceOf(WriteOptions options, string key) => options.IfHeld switch
    {
        null => null,
        ZooKeeperLocker { Fence: { } fence } => fence,
        var locker => throw new KvException(KvErrorCode.LockNotHeld, $"The write of '{key}' is fenced by the lock '{locker.Key}', which this client does not hold.", key),
    };

    /// <summary>Marks a just-created TTL node (ACL version 0 → 1, same ACL); the stat, or null when the node is gone.</summary>
    private async Task<Stat?> MarkTtlAsync(ZooKeeperClient client, string path, CancellationToken cancellationToken)
    {
        // Sent even when the call is cancelled or out of time meanwhile: the node exists, and unmarked it would pass
        // for a permanent node, which a later plain Put would then leave expiring.
        var mark = client.SetAclAsync(path, AclFor(path), 0, CancellationToken.None);
        try
        {
            return await mark.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ZooKeeperException e) when (e.Error is ZooKeeperErrors.NoNode or ZooKeeperErrors.BadVersion)
        {
            return null;
        }
        catch (OperationCanceledException)
        {
            Observe(mark);
            throw;
        }
    }

    /// <summary>The node kind of a write: ephemeral for keep-alive, a TTL node for a TTL alone.</summary>
    private NodeKind KindOf(WriteOptions options, string key)
    {
        if (options.Ttl is not { } ttl)
        {
            return new NodeKind(CreateMode.Persistent, 0);
        }

        if (options.KeepAlive)
        {
            return new NodeKind(CreateMode.Ephemeral, 0);
        }

        var ms = (long)Math.Ceiling(ttl.TotalMilliseconds);
        if (ms > MaxTtlMs)
        {
            throw new ArgumentException($"A ZooKeeper TTL is at most {MaxTtlMs} ms.", nameof(options));
        }

        return new NodeKind(CreateMode.PersistentWithTtl, ms);
    }

    private static KvException TtlNotSupported(string key) =>
        new(KvErrorCode.NotSupported, "This ZooKeeper server does not allow TTL nodes; start it with -Dzookeeper.extendedTypesEnabled=true (or use KeepAlive, which needs no TTL nodes).", key);

    /// <summary>Starts a call bounded by RequestTimeout as a whole; <paramref name="cancellationToken"/> becomes the call's token.</summary>
    internal CallDeadline StartCall(ref CancellationToken cancellationToken)
    {
        var call = new CallDeadline(Options.RequestTimeout, Time, cancellationToken);
        cancellationToken = call.Token;
        return call;
    }

    /// <summary>The transient Unavailable of a call that ran out of its RequestTimeout.</summary>
    internal KvException CallTimedOut(string key, Exception inner) =>
        inner is SentWriteCanceledException
            ? KvException.Unavailable(
                $"ZooKeeper at {Client.Endpoints} did not answer a write on '{key}' within the request timeout of {Options.RequestTimeout.TotalMilliseconds:0} ms; " +
                "it was sent and may have been applied (outcome unknown).",
                inner,
                outcomeUnknown: true,
                key)
            : KvException.Unavailable($"ZooKeeper at {Client.Endpoints} did not complete the call on '{key}' within the request timeout of {Options.RequestTimeout.TotalMilliseconds:0} ms.", inner, key: key);

    private static KvException TooBusy(string key) =>
        new(KvErrorCode.Unavailable, $"'{key}' kept changing underneath; gave up after {MaxAttempts} attempts.", key);

    private KvException Map(ZooKeeperException e, string key) => ZooKeeperErrors.ToKvException(e.Error, key, e.Message + $" (servers: {Client.Endpoints})");

    private enum Condition
    {
        None,
        Create,
        Match,
    }

    private readonly record struct NodeKind(CreateMode Mode, long TtlMs)
    {
        public bool Matches(Stat stat, long sessionId) => Mode switch
        {
            CreateMode.Persistent => stat.EphemeralOwner == 0 && !stat.IsMarkedTtl,
            CreateMode.Ephemeral => stat.EphemeralOwner == sessionId && sessionId != 0,

            // The server does not tell a TTL node's TTL: a TTL write always re-creates the node.
            _ => false,
        };

        public string Describe() => Mode switch
        {
            CreateMode.Ephemeral => "keep-alive (ephemeral)",
            CreateMode.PersistentWithTtl => "TTL",
            _ => "permanent",
        };
    }
}
