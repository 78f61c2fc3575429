using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using LibKv.Core;
using LibKv.ZooKeeper.Jute;
using Microsoft.Extensions.Logging;

namespace LibKv.ZooKeeper.Client;

/// <summary>
/// A ZooKeeper session over one pipelined connection at a time: handshake, pings, reconnect to the same or the next
/// host keeping the session, a new session after expiry, persistent watches re-added after every reconnect.
/// </summary>
internal sealed class ZooKeeperClient : IAsyncDisposable, IConnectionOwner
{
    private static readonly ReplyParser<bool> s_none = static (ref JuteReader _) => true;
    private static readonly ReplyParser<Stat> s_stat = static (ref JuteReader r) => Stat.Read(ref r);

    private readonly ZooKeeperClientOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly Dictionary<(string Path, AddWatchMode Mode), List<WatchRegistration>> _watches = new();
    private readonly CancellationTokenSource _disposing = new();
    private readonly OutageLog _outage;
    private ZooKeeperConnection? _current;
    private TaskCompletionSource<ZooKeeperConnection> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource _sessionCts = new();
    private readonly SessionDeadline _deadline;
    private bool _zeroZxidNext;
    private int _handshakeRefusals;
    private Task _loop = Task.CompletedTask;
    private long _sessionId;
    private byte[] _password;
    private int _negotiatedTimeoutMs;
    private long _lastZxid;
    private int _xid;
    private int _authError;
    private bool _readOnly;
    private bool _closingSession;
    private SharedSync? _sharedSync;
    private string _lastError = "not connected yet";

    public ZooKeeperClient(ZooKeeperClientOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _time = options.Time;
        _outage = new OutageLog(logger, $"ZooKeeper connection (session timeout {options.SessionTimeout.TotalMilliseconds:0} ms)", _time);
        _deadline = new SessionDeadline(_time, () => NegotiatedTimeout, OnDeadlinePassed);
        _sessionId = options.SessionId;
        _password = options.SessionPassword ?? new byte[16];
    }

    /// <summary>The current session id (0 before the first connection).</summary>
    public long SessionId => Interlocked.Read(ref _sessionId);

    /// <summary>The current session password.</summary>
    public byte[] SessionPassword
    {
        get
        {
            lock (_gate)
            {
                return (byte[])_password.Clone();
            }
        }
    }

    /// <summary>The session timeout the server granted.</summary>
    public TimeSpan NegotiatedTimeout => TimeSpan.FromMilliseconds(Volatile.Read(ref _negotiatedTimeoutMs));

    /// <summary>Cancelled when the current session ends: expired, presumed lost after a timeout without connection, or closed.</summary>
    public CancellationToken SessionToken
    {
        get
        {
            lock (_gate)
            {
                return _sessionCts.Token;
            }
        }
    }

    /// <summary>True when the connected server is a read-only (partitioned) member; LibKv never asks for one.</summary>
    public bool IsReadOnly => Volatile.Read(ref _readOnly);

    /// <summary>True while a connection is up.</summary>
    public bool IsConnected => Volatile.Read(ref _current) is not null;

    /// <summary>The endpoints, for messages.</summary>
    public string Endpoints => _options.Describe();

    /// <summary>Raised (on the session loop, in order) when the connection or the session changes.</summary>
    public event Action<SessionChange>? Changed;

    /// <summary>Raised on the connection's reader when the server answers a ping, with the ping's send timestamp.</summary>
    public event Action<long>? PingAnswered;

    /// <summary>Raised on the connection's reader, before anything newer is delivered, when the server's zxid went back.</summary>
    public event Action? ZxidWentBack;

    /// <summary>The send timestamp (TimeProvider) of the last request or ping of this session the server answered.</summary>
    public long ConfirmedSent => _deadline.ConfirmedSent;

    /// <summary>
    /// Connects to the first host that answers and starts the session loop. A host that refuses or closes the
    /// connection (a server just starting) is tried again, across the list, until ConnectionTimeout has passed; then
    /// Unavailable, or InvalidConfiguration when what answered is not a ZooKeeper server.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var errors = new Dictionary<string, string>();
        var notZooKeeper = new Dictionary<string, string>();
        var refused = new Dictionary<string, string>();
        for (var round = 0; ; round++)
        {
            foreach (var host in _options.Hosts)
            {
                var endpoint = $"{host.Host}:{host.Port}";
                var left = _options.ConnectionTimeout - _time.GetElapsedTime(started);
                if (notZooKeeper.ContainsKey(endpoint) || refused.ContainsKey(endpoint) || (round > 0 && left <= TimeSpan.Zero))
                {
                    continue;
                }

                try
                {
                    // An attempt gets half of ConnectionTimeout per host of the list (at least a second, at most what
                    // is left after the first round): a hung host does not starve the next, and a server that took the
                    // connection while starting and never answers it is asked again.
                    var share = _options.ConnectionTimeout / (2 * _options.Hosts.Count);
                    var attempt = share > TimeSpan.FromSeconds(1) ? share : TimeSpan.FromSeconds(1);
                    if (attempt > _options.ConnectionTimeout)
                    {
                        attempt = _options.ConnectionTimeout;
                    }

                    if (round > 0 && attempt > left)
                    {
                        attempt = left;
                    }

                    var connection = await ConnectAsync(host, attempt, cancellationToken).ConfigureAwait(false);
                    Publish(connection, isNewSession: false);
                    _loop = Task.Run(() => RunAsync(connection));
                    return;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }
                catch (NotZooKeeperException e)
                {
                    notZooKeeper[endpoint] = e.Message;
                }
                catch (KvException e) when (e.Code == KvErrorCode.InvalidConfiguration)
                {
                    // The TLS check refused the server's certificate: asking again would not change it.
                    Log.ConnectFailed(_logger, endpoint, e.Message);
                    refused[endpoint] = e.Message;
                }
                catch (HandshakeTimeoutException e)
                {
                    // A server that took the connection and said nothing to the handshake may answer HTTP (etcd, Consul…).
                    Log.ConnectFailed(_logger, endpoint, e.Message);
                    if (await NotZooKeeperException.ProbeHttpAsync(host.Host, host.Port, cancellationToken).ConfigureAwait(false) is { } http)
                    {
                        notZooKeeper[endpoint] = http.Message;
                    }
                    else
                    {
                        errors[endpoint] = e.Message;
                    }
                }
                catch (Exception e)
                {
                    Log.ConnectFailed(_logger, endpoint, e.Message);
                    errors[endpoint] = e.Message;
                }
            }

            if (notZooKeeper.Count + refused.Count == _options.Hosts.Count || _time.GetElapsedTime(started) >= _options.ConnectionTimeout)
            {
                break;
            }

            await Task.Delay(Backoff(round), _time, cancellationToken).ConfigureAwait(false);
        }

        if (refused.Count > 0)
        {
            throw new KvException(
                KvErrorCode.InvalidConfiguration,
                string.Join("; ", refused.Values) +
                (errors.Count + notZooKeeper.Count > 0 ? $" (and no ZooKeeper server answered elsewhere: {string.Join("; ", errors.Concat(notZooKeeper).Select(e => $"{e.Key}: {e.Value}"))})" : string.Empty) +
                " Check StoreOptions.Tls.");
        }

        if (notZooKeeper.Count > 0)
        {
            throw new KvException(
                KvErrorCode.InvalidConfiguration,
                $"{string.Join("; ", notZooKeeper.Select(e => $"{e.Key} is {e.Value}"))}" +
                (errors.Count > 0 ? $" (and no ZooKeeper server answered elsewhere: {string.Join("; ", errors.Select(e => $"{e.Key}: {e.Value}"))})" : string.Empty) +
                ". Check the endpoints of the zookeeper backend.");
        }

        throw new KvException(KvErrorCode.Unavailable, $"No ZooKeeper server answered at {Endpoints} within {_options.ConnectionTimeout.TotalMilliseconds:0} ms: {string.Join("; ", errors.Select(e => $"{e.Key}: {e.Value}"))}");
    }

    private static TimeSpan Backoff(int round) => TimeSpan.FromMilliseconds(Math.Min(500, 50 << Math.Min(round, 4)));

    /// <summary>Sends one request and awaits its reply, within the request timeout; ZooKeeperException for a server error.</summary>
    public async Task<T> SendAsync<T>(int opCode, string path, Action<JuteWriter>? body, ReplyParser<T> parser, CancellationToken cancellationToken)
    {
        // A cancelled call sends nothing.
        cancellationToken.ThrowIfCancellationRequested();
        var started = _time.GetTimestamp();
        ZooKeeperConnection? closing = null;
        while (true)
        {
            var connection = await ConnectionAsync(closing, started, cancellationToken).ConfigureAwait(false);
            if (Enqueue(connection, opCode, path, body, parser) is { } queued)
            {
                return await AwaitReplyAsync(queued.Pending, queued.Frame, started, cancellationToken).ConfigureAwait(false);
            }

            closing = connection;
        }
    }

    /// <summary>
    /// A sync that orders every read sent after it behind all writes committed before this call. Concurrent callers
    /// share one sync as long as it has not been written to the socket yet: it then still reaches the server after
    /// each caller's call, which is all linearizable reads need, and it saves a request per read under load.
    /// </summary>
    public async Task SyncSharedAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var started = _time.GetTimestamp();
        ZooKeeperConnection? closing = null;
        while (true)
        {
            var connection = await ConnectionAsync(closing, started, cancellationToken).ConfigureAwait(false);
            var shared = Volatile.Read(ref _sharedSync);
            if (shared is not null && ReferenceEquals(shared.Connection, connection) && !shared.Frame.Taken)
            {
                await AwaitReplyAsync(shared.Pending, shared.Frame, started, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (Enqueue(connection, OpCode.Sync, "/", static w => w.WriteString("/"), s_none) is { } queued)
            {
                Volatile.Write(ref _sharedSync, new SharedSync(connection, queued.Frame, queued.Pending));
                await AwaitReplyAsync(queued.Pending, queued.Frame, started, cancellationToken).ConfigureAwait(false);
                return;
            }

            closing = connection;
        }
    }

    /// <summary>
    /// The connection to send on: the current one, or the next once <paramref name="closing"/> (which refused a request
    /// because it is closing: nothing was sent) has been replaced, within the request's RequestTimeout.
    /// </summary>
    private async Task<ZooKeeperConnection> ConnectionAsync(ZooKeeperConnection? closing, long started, CancellationToken cancellationToken)
    {
        while (true)
        {
            var connection = Volatile.Read(ref _current) ?? await WaitConnectedAsync(cancellationToken).ConfigureAwait(false);
            if (!ReferenceEquals(connection, closing))
            {
                return connection;
            }

            if (_time.GetElapsedTime(started) >= _options.RequestTimeout)
            {
                throw Unavailable($"the connection was lost and no other came up within {_options.RequestTimeout.TotalMilliseconds:0} ms (last error: {_lastError})", null);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Queues a request on <paramref name="connection"/>; null when the connection is closing (nothing was sent).</summary>
    private (Pending<T> Pending, OutFrame Frame)? Enqueue<T>(ZooKeeperConnection connection, int opCode, string path, Action<JuteWriter>? body, ReplyParser<T> parser)
    {
        if (Volatile.Read(ref _authError) != 0)
        {
            throw new KvException(KvErrorCode.Unauthorized, $"ZooKeeper at {Endpoints} rejected the credentials.");
        }

        var pending = new Pending<T>(NextXid(), opCode, path, parser);
        var w = new JuteWriter();
        w.BeginFrame();
        w.WriteInt(pending.Xid);
        w.WriteInt(opCode);
        body?.Invoke(w);
        w.PatchFrameLength();
        var frame = new OutFrame(w, pending);
        if (!connection.TryEnqueue(frame))
        {
            w.Dispose();
            return null;
        }

        ZooKeeperMetrics.Requests.Add(1);
        return (pending, frame);
    }

    /// <summary>
    /// Awaits a reply. A write whose frame went to the socket and whose reply never came may have been applied: it
    /// fails with OutcomeUnknown (or <see cref="SentWriteCanceledException"/> when the caller's token ended it).
    /// </summary>
    private async Task<T> AwaitReplyAsync<T>(Pending<T> pending, OutFrame frame, long started, CancellationToken cancellationToken)
    {
        var left = _options.RequestTimeout - _time.GetElapsedTime(started);
        try
        {
            return await pending.Task.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw Unavailable($"no reply within {_options.RequestTimeout.TotalMilliseconds:0} ms", null, MaybeApplied(pending, frame));
        }
        catch (ConnectionLostException e)
        {
            throw Unavailable("the connection was lost (ConnectionLoss)", e, MaybeApplied(pending, frame));
        }
        catch (OperationCanceledException e) when (MaybeApplied(pending, frame))
        {
            throw new SentWriteCanceledException(e.CancellationToken);
        }
        catch (ObjectDisposedException e)
        {
            throw Unavailable("the client is closed", e);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IndexOutOfRangeException or EndOfStreamException)
        {
            throw Unavailable($"a malformed reply ({e.Message})", e);
        }
    }

    public Task<(string Path, Stat Stat)> CreateAsync(string path, ReadOnlyMemory<byte>? data, IReadOnlyList<Acl> acls, CreateMode mode, long ttlMs, CancellationToken ct)
    {
        var op = new MultiOp.CreateOp(path, data, acls, mode, ttlMs);
        var code = mode switch
        {
            CreateMode.PersistentWithTtl => OpCode.CreateTtl,
            CreateMode.Container => OpCode.CreateContainer,
            _ => OpCode.Create2,
        };
        return SendAsync(code, path, op.Write, static (ref JuteReader r) => (r.ReadString() ?? string.Empty, Stat.Read(ref r)), ct);
    }

    public Task<bool> DeleteAsync(string path, int version, CancellationToken ct) =>
        SendAsync(OpCode.Delete, path, w => { w.WriteString(path); w.WriteInt(version); }, s_none, ct);

    public Task<NodeData> GetDataAsync(string path, CancellationToken ct) =>
        SendAsync(OpCode.GetData, path, w => { w.WriteString(path); w.WriteBool(false); }, static (ref JuteReader r) => new NodeData(r.ReadBuffer(), Stat.Read(ref r)), ct);

    /// <summary>getData that answers null for a missing node.</summary>
    public async Task<NodeData?> TryGetDataAsync(string path, CancellationToken ct)
    {
        try
        {
            return await GetDataAsync(path, ct).ConfigureAwait(false);
        }
        catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
        {
            return null;
        }
    }

    public async Task<Stat?> ExistsAsync(string path, CancellationToken ct)
    {
        try
        {
            return await SendAsync(OpCode.Exists, path, w => { w.WriteString(path); w.WriteBool(false); }, s_stat, ct).ConfigureAwait(false);
        }
        catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
        {
            return null;
        }
    }

    public Task<Stat> SetDataAsync(string path, ReadOnlyMemory<byte>? data, int version, CancellationToken ct) =>
        SendAsync(OpCode.SetData, path, new MultiOp.SetDataOp(path, data, version).Write, s_stat, ct);

    public Task<Stat> SetAclAsync(string path, IReadOnlyList<Acl> acls, int aclVersion, CancellationToken ct) =>
        SendAsync(OpCode.SetAcl, path, w => { w.WriteString(path); Acl.Write(w, acls); w.WriteInt(aclVersion); }, s_stat, ct);

    public Task<List<string>> GetChildrenAsync(string path, CancellationToken ct) =>
        SendAsync(OpCode.GetChildren, path, w => { w.WriteString(path); w.WriteBool(false); }, static (ref JuteReader r) => r.ReadStrings(), ct);

    public Task<bool> SyncAsync(string path, CancellationToken ct) =>
        SendAsync(OpCode.Sync, path, w => w.WriteString(path), s_none, ct);

    public Task<List<MultiResult>> MultiAsync(IReadOnlyList<MultiOp> ops, CancellationToken ct) =>
        SendAsync(OpCode.Multi, ops.Count > 0 ? ops[0].Path : "/", w => MultiCodec.Write(w, ops), static (ref JuteReader r) => MultiCodec.Read(ref r), ct);

    /// <summary>
    /// Adds a persistent (or persistent recursive) watch shared by every registration of that path and mode; the
    /// watch request is queued before this returns, so a read sent afterwards sees every later change as an event.
    /// <paramref name="onResync"/> runs after each reconnect, when events may have been missed.
    /// </summary>
    public IDisposable AddWatch(string path, AddWatchMode mode, Action<WatchEvent> onEvent, Action onResync)
    {
        var registration = new WatchRegistration(this, path, mode, onEvent, onResync);
        lock (_gate)
        {
            if (!_watches.TryGetValue((path, mode), out var list))
            {
                list = new List<WatchRegistration>();
                _watches.Add((path, mode), list);
                if (_current is { } connection)
                {
                    EnqueueAddWatch(connection, path, mode);
                }
            }

            list.Add(registration);
        }

        return registration;
    }

    /// <summary>Closes the session (its ephemeral nodes go at once) and the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposing.IsCancellationRequested)
        {
            return;
        }

        // From here on a dropped connection is not reconnected: the server closes it after closeSession.
        Volatile.Write(ref _closingSession, true);
        if (Volatile.Read(ref _current) is not null)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Min(3, _options.RequestTimeout.TotalSeconds)), _time);
                await SendAsync(OpCode.CloseSession, "/", null, s_none, cts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is KvException or OperationCanceledException or ZooKeeperException)
            {
                // The server ends the session by its timeout.
            }
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        ZooKeeperConnection? connection;
        CancellationTokenSource session;
        lock (_gate)
        {
            connection = _current;
            _current = null;
            _deadline.Dispose();
            _connected.TrySetException(new ObjectDisposedException(nameof(ZooKeeperClient)));
            session = _sessionCts;
        }

        // Outside the gate: the session token's callbacks (lost locks) reach user code.
        CancelQuietly(session);

        connection?.Abort(new ObjectDisposedException(nameof(ZooKeeperClient)));
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The loop ends when the client is disposed.
        }
    }

    /// <summary>Closes the connection as if the network dropped it (tests).</summary>
    internal void DropConnection() => Volatile.Read(ref _current)?.Abort(new ConnectionLostException("dropped on purpose", null));

    private KvException Unavailable(string what, Exception? inner, bool outcomeUnknown = false) =>
        ZooKeeperErrors.Unavailable(
            outcomeUnknown
                ? $"ZooKeeper at {Endpoints} is unavailable: {what}; the write was sent and may have been applied (outcome unknown)."
                : $"ZooKeeper at {Endpoints} is unavailable: {what}.",
            inner,
            outcomeUnknown);

    /// <summary>True for a write whose bytes went to the socket: the server may apply it even though no reply came.</summary>
    private static bool MaybeApplied(Pending pending, OutFrame frame) => frame.Taken && OpCode.IsWrite(pending.OpCode);

    private int NextXid()
    {
        var xid = Interlocked.Increment(ref _xid) & 0x7FFFFFFF;
        return xid == 0 ? 1 : xid;
    }

    private async Task<ZooKeeperConnection> WaitConnectedAsync(CancellationToken cancellationToken)
    {
        Task<ZooKeeperConnection> task;
        lock (_gate)
        {
            if (_current is { } c)
            {
                return c;
            }

            task = _connected.Task;
        }

        try
        {
            return await task.WaitAsync(_options.RequestTimeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw Unavailable($"not connected within {_options.RequestTimeout.TotalMilliseconds:0} ms (last error: {_lastError})", null);
        }
        catch (ObjectDisposedException e)
        {
            throw Unavailable("the client is closed", e);
        }
    }

    private async Task<ZooKeeperConnection> ConnectAsync((string Host, int Port) host, TimeSpan connectTimeout, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        timeout.CancelAfter(connectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var endpoint = $"{host.Host}:{host.Port}";
        ZooKeeperConnection? connection = null;
        var tcpConnected = false;
        try
        {
            await socket.ConnectAsync(host.Host, host.Port, timeout.Token).ConfigureAwait(false);
            tcpConnected = true;
            long sessionId;
            byte[] password;
            var lastZxid = Interlocked.Read(ref _lastZxid);
            bool zeroZxid;
            lock (_gate)
            {
                // Every host refused the session after it was presumed lost: a server rebuilt from scratch refuses a
                // client that saw a larger zxid than its own, so present zxid 0 (it then answers "expired", and the
                // next handshake opens a new session, still from zxid 0).
                zeroZxid = _zeroZxidNext;
                sessionId = _sessionId;
                password = _password;
            }

            var stream = await OpenStreamAsync(socket, host.Host, endpoint, timeout.Token).ConfigureAwait(false);
            connection = new ZooKeeperConnection(socket, stream, endpoint, this, _time, lastZxid);
            var sent = _time.GetTimestamp();
            using (var w = new JuteWriter(64))
            {
                w.BeginFrame();
                w.WriteInt(0);
                w.WriteLong(zeroZxid ? 0 : lastZxid);
                w.WriteInt((int)_options.SessionTimeout.TotalMilliseconds);
                w.WriteLong(sessionId);
                w.WriteBuffer(password);
                w.WriteBool(false);
                w.PatchFrameLength();
                await connection.Stream.WriteAsync(w.WrittenMemory, timeout.Token).ConfigureAwait(false);
            }

            var lengthBytes = new byte[4];
            try
            {
                await connection.Stream.ReadExactlyAsync(lengthBytes, timeout.Token).ConfigureAwait(false);
            }
            catch (EndOfStreamException e) when (_options.Tls is null)
            {
                throw new IOException($"{endpoint} closed the connection at the ZooKeeper handshake (a TLS-only secureClientPort does that to plain TCP: set StoreOptions.Tls or give an https:// endpoint).", e);
            }

            var length = BinaryPrimitives.ReadInt32BigEndian(lengthBytes);
            if (length is < 20 or > 1024)
            {
                throw await NotZooKeeperException.DescribeAsync(lengthBytes, connection.Stream, timeout.Token).ConfigureAwait(false);
            }

            var body = new byte[length];
            await connection.Stream.ReadExactlyAsync(body, timeout.Token).ConfigureAwait(false);
            var (timeoutMs, newId, newPassword, readOnly) = ParseConnectResponse(body);
            Volatile.Write(ref _readOnly, readOnly);
            if (timeoutMs <= 0)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                connection = null;
                ExpireSession(sessionId);
                throw new SessionExpiredException();
            }

            var isNew = newId != sessionId;
            if (isNew && sessionId != 0)
            {
                ExpireSession(sessionId);
            }

            lock (_gate)
            {
                _sessionId = newId;
                _password = newPassword;
                _zeroZxidNext = false;
                _handshakeRefusals = 0;
            }

            // The handshake is an answered request of the session: its send time starts (or extends) the session's deadline.
            if (isNew)
            {
                _deadline.Restart(sent);
            }
            else
            {
                OnAnswered(sent, ping: false);
            }

            Volatile.Write(ref _negotiatedTimeoutMs, timeoutMs);
            var negotiated = TimeSpan.FromMilliseconds(timeoutMs);

            // A server silent for two thirds of the session timeout, or for the request timeout when that is shorter,
            // is left for another (as ZooKeeper's own client does, with pings at half that so a live one never is).
            var readTimeout = negotiated * 2 / 3 < _options.RequestTimeout ? negotiated * 2 / 3 : _options.RequestTimeout;
            connection.Start(readTimeout / 2, readTimeout);
            Log.Connected(_logger, endpoint, newId, timeoutMs, isNew);
            ZooKeeperMetrics.Connections.Add(1);
            return connection;
        }
        catch (Exception e)
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            _lastError = $"{endpoint}: {e.Message}";
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested && !_disposing.IsCancellationRequested)
            {
                throw tcpConnected
                    ? new HandshakeTimeoutException($"{endpoint} took the connection but did not answer the ZooKeeper handshake within {connectTimeout.TotalMilliseconds:0} ms.", e)
                    : new TimeoutException($"Connecting to {endpoint} timed out after {connectTimeout.TotalMilliseconds:0} ms.", e);
            }

            throw;
        }
    }

    /// <summary>The connection's stream: the socket's, or TLS over it (handshake done) when the client uses TLS.</summary>
    private async Task<Stream> OpenStreamAsync(Socket socket, string host, string endpoint, CancellationToken cancellationToken)
    {
        var plain = new NetworkStream(socket, ownsSocket: true);
        if (_options.Tls is not { } tls)
        {
            return plain;
        }

        var ssl = new SslStream(plain, leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(tls.ClientOptions(host), cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            var explained = tls.Explain(endpoint, e);
            throw explained.Code == KvErrorCode.InvalidConfiguration
                ? explained
                : new IOException($"{explained.Message} (is {endpoint} ZooKeeper's secureClientPort? A plain clientPort closes a TLS handshake.)", e);
        }
    }

    private static (int TimeoutMs, long SessionId, byte[] Password, bool ReadOnly) ParseConnectResponse(byte[] body)
    {
        var r = new JuteReader(body);
        r.ReadInt();
        var timeout = r.ReadInt();
        var id = r.ReadLong();
        var password = r.ReadBuffer() ?? new byte[16];
        var readOnly = r.Remaining > 0 && r.ReadBool();
        return (timeout, id, password, readOnly);
    }

    /// <summary>The server said the session is gone: its token is cancelled and the next connection opens a new one.</summary>
    private void ExpireSession(long sessionId)
    {
        Log.SessionExpired(_logger, sessionId);
        ZooKeeperMetrics.SessionsLost.Add(1);
        CancellationTokenSource old;
        bool wasLive;
        lock (_gate)
        {
            if (_sessionId == sessionId)
            {
                _sessionId = 0;
                _password = new byte[16];
            }

            old = _sessionCts;
            wasLive = !old.IsCancellationRequested;
            _sessionCts = new CancellationTokenSource();
        }

        CancelQuietly(old);
        if (wasLive)
        {
            Raise(SessionChange.SessionLost);
        }
    }

    private void Publish(ZooKeeperConnection connection, bool isNewSession)
    {
        List<WatchRegistration> resync = new();
        lock (_gate)
        {
            foreach (var (scheme, auth) in _options.Auth)
            {
                var w = new JuteWriter();
                w.BeginFrame();
                w.WriteInt(Xid.Auth);
                w.WriteInt(OpCode.Auth);
                w.WriteInt(0);
                w.WriteString(scheme);
                w.WriteBuffer(auth);
                w.PatchFrameLength();
                if (!connection.TryEnqueue(new OutFrame(w, null)))
                {
                    w.Dispose();
                }
            }

            foreach (var ((path, mode), list) in _watches)
            {
                EnqueueAddWatch(connection, path, mode);
                resync.AddRange(list);
            }

            if (_sessionCts.IsCancellationRequested)
            {
                _sessionCts = new CancellationTokenSource();
            }

            _current = connection;
            _connected.TrySetResult(connection);
        }

        _deadline.Arm();
        foreach (var registration in resync)
        {
            registration.Resync();
        }

        if (_loop != Task.CompletedTask)
        {
            Raise(isNewSession ? SessionChange.NewSession : SessionChange.Reconnected);
        }
    }

    private async Task RunAsync(ZooKeeperConnection connection)
    {
        while (true)
        {
            await connection.Closed.ConfigureAwait(false);
            Interlocked.Exchange(ref _lastZxid, Math.Max(Interlocked.Read(ref _lastZxid), connection.LastZxid));
            lock (_gate)
            {
                if (ReferenceEquals(_current, connection))
                {
                    _current = null;
                }

                if (_connected.Task.IsCompleted && !_disposing.IsCancellationRequested)
                {
                    _connected = new TaskCompletionSource<ZooKeeperConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }

            if (_disposing.IsCancellationRequested || Volatile.Read(ref _closingSession))
            {
                return;
            }

            _lastError = $"{connection.Endpoint}: {connection.CloseReason?.Message}";
            _outage.Failed(connection.Endpoint, connection.CloseReason ?? new ConnectionLostException("the connection closed", null));
            Raise(SessionChange.Disconnected);

            // The other hosts first: the one that just went silent may be paused or cut off, and the session's time runs.
            var index = IndexOf(connection.Endpoint) + 1;
            var failures = 0;
            while (true)
            {
                if (_disposing.IsCancellationRequested)
                {
                    return;
                }

                var host = _options.Hosts[index++ % _options.Hosts.Count];
                try
                {
                    var sessionBefore = SessionId;
                    connection = await ConnectAsync(host, ReconnectTimeout(), _disposing.Token).ConfigureAwait(false);
                    _outage.Recovered(connection.Endpoint);
                    Publish(connection, isNewSession: SessionId != sessionBefore);
                    break;
                }
                catch (SessionExpiredException)
                {
                    index--;
                }
                catch (Exception e) when (!_disposing.IsCancellationRequested)
                {
                    _outage.Failed($"{host.Host}:{host.Port}", e);
                    NoteRefusal(e);
                    failures++;
                    if (failures % _options.Hosts.Count == 0)
                    {
                        var delay = Backoff(failures / _options.Hosts.Count);
                        try
                        {
                            await Task.Delay(delay, _time, _disposing.Token).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException)
                        {
                            return;
                        }
                    }
                }
                catch (Exception)
                {
                    return;
                }
            }
        }
    }

    private int IndexOf(string endpoint)
    {
        for (var i = 0; i < _options.Hosts.Count; i++)
        {
            if ($"{_options.Hosts[i].Host}:{_options.Hosts[i].Port}" == endpoint)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Counts handshakes the server ended without an answer once the session is presumed lost; when every host did,
    /// the next handshake starts a new session from zxid 0 (a server that lost its data refuses a client ahead of it).
    /// </summary>
    private void NoteRefusal(Exception e)
    {
        if (e is not (EndOfStreamException or IOException))
        {
            return;
        }

        lock (_gate)
        {
            if (!_sessionCts.IsCancellationRequested && _sessionId != 0)
            {
                return;
            }

            if (++_handshakeRefusals >= Math.Max(2, _options.Hosts.Count))
            {
                _zeroZxidNext = true;
            }
        }
    }

    /// <summary>
    /// A reconnect attempt gets at most its share of the session timeout, as in ZooKeeper's own client, so a host that
    /// does not answer (dropped packets) cannot use up the session before the next host of the list is tried.
    /// </summary>
    private TimeSpan ReconnectTimeout()
    {
        var share = NegotiatedTimeout / _options.Hosts.Count;
        return share > TimeSpan.Zero && share < _options.ConnectionTimeout ? share : _options.ConnectionTimeout;
    }

    /// <summary>
    /// The session counts as lost once its timeout has passed since the send time of the last request or ping the
    /// server answered: the server cannot have expired it earlier, and may have expired it from then on.
    /// </summary>
    private void OnDeadlinePassed()
    {
        CancellationTokenSource cts;
        long sessionId;
        lock (_gate)
        {
            if (_disposing.IsCancellationRequested || _sessionCts.IsCancellationRequested)
            {
                return;
            }

            cts = _sessionCts;
            sessionId = _sessionId;
        }

        Log.SessionPresumedLost(_logger, sessionId, Volatile.Read(ref _negotiatedTimeoutMs));
        ZooKeeperMetrics.SessionsLost.Add(1);
        CancelQuietly(cts);
        Raise(SessionChange.SessionLost);
    }

    private void Raise(SessionChange change)
    {
        try
        {
            Changed?.Invoke(change);
        }
        catch (Exception e)
        {
            Log.BackgroundFailed(_logger, "/", e.Message);
        }
    }

    /// <inheritdoc />
    public void OnAnswered(long sentTimestamp, bool ping)
    {
        _deadline.Confirm(sentTimestamp);
        if (ping)
        {
            PingAnswered?.Invoke(sentTimestamp);
        }
    }

    /// <inheritdoc />
    public void OnZxidWentBack(long zxid)
    {
        Interlocked.Exchange(ref _lastZxid, zxid);
        ZxidWentBack?.Invoke();
    }

    private static void CancelQuietly(CancellationTokenSource cts)
    {
        try
        {
            cts.Cancel();
        }
        catch (Exception e) when (e is ObjectDisposedException or AggregateException)
        {
        }
    }

    private void EnqueueAddWatch(ZooKeeperConnection connection, string path, AddWatchMode mode)
    {
        var pending = new Pending<bool>(NextXid(), OpCode.AddWatch, path, s_none);
        var w = new JuteWriter();
        w.BeginFrame();
        w.WriteInt(pending.Xid);
        w.WriteInt(OpCode.AddWatch);
        w.WriteString(path);
        w.WriteInt((int)mode);
        w.PatchFrameLength();
        if (!connection.TryEnqueue(new OutFrame(w, pending)))
        {
            w.Dispose();
        }

        _ = pending.Task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    private void EnqueueRemoveWatch(ZooKeeperConnection connection, string path)
    {
        var pending = new Pending<bool>(NextXid(), OpCode.RemoveWatches, path, s_none);
        var w = new JuteWriter();
        w.BeginFrame();
        w.WriteInt(pending.Xid);
        w.WriteInt(OpCode.RemoveWatches);
        w.WriteString(path);
        w.WriteInt(3);
        w.PatchFrameLength();
        if (!connection.TryEnqueue(new OutFrame(w, pending)))
        {
            w.Dispose();
        }

        _ = pending.Task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    private void Remove(WatchRegistration registration)
    {
        WatchRegistration[]? resync = null;
        lock (_gate)
        {
            var key = (registration.Path, registration.Mode);
            if (!_watches.TryGetValue(key, out var list) || !list.Remove(registration) || list.Count > 0)
            {
                return;
            }

            _watches.Remove(key);
            if (_current is { } connection)
            {
                // removeWatches (type Any) drops every watch of this connection on the path; re-add the other mode.
                EnqueueRemoveWatch(connection, registration.Path);
                var other = registration.Mode == AddWatchMode.Persistent ? AddWatchMode.PersistentRecursive : AddWatchMode.Persistent;
                if (_watches.TryGetValue((registration.Path, other), out var others))
                {
                    EnqueueAddWatch(connection, registration.Path, other);
                    resync = others.ToArray();
                }
            }
        }

        if (resync is not null)
        {
            foreach (var r in resync)
            {
                r.Resync();
            }
        }
    }

    /// <inheritdoc />
    public void OnEvent(WatchEvent e)
    {
        if (e.Type is WatchEventType.None or WatchEventType.PersistentWatchRemoved or WatchEventType.DataWatchRemoved or WatchEventType.ChildWatchRemoved)
        {
            return;
        }

        List<WatchRegistration>? targets = null;
        lock (_gate)
        {
            if (_watches.TryGetValue((e.Path, AddWatchMode.Persistent), out var exact))
            {
                (targets ??= new()).AddRange(exact);
            }

            var path = e.Path;
            while (true)
            {
                if (_watches.TryGetValue((path, AddWatchMode.PersistentRecursive), out var recursive))
                {
                    (targets ??= new()).AddRange(recursive);
                }

                if (path == "/")
                {
                    break;
                }

                var slash = path.LastIndexOf('/');
                path = slash <= 0 ? "/" : path[..slash];
            }
        }

        if (targets is null)
        {
            return;
        }

        foreach (var t in targets)
        {
            t.Notify(e);
        }
    }

    /// <inheritdoc />
    public void OnAuthReply(int error)
    {
        if (error != ZooKeeperErrors.Ok)
        {
            Volatile.Write(ref _authError, error);
            Log.AuthFailed(_logger, error);
        }
    }

    private sealed record SharedSync(ZooKeeperConnection Connection, OutFrame Frame, Pending<bool> Pending);

    private sealed class SessionExpiredException() : Exception("The ZooKeeper session expired.");


    private sealed class WatchRegistration(ZooKeeperClient client, string path, AddWatchMode mode, Action<WatchEvent> onEvent, Action onResync) : IDisposable
    {
        private int _disposed;

        public string Path { get; } = path;

        public AddWatchMode Mode { get; } = mode;

        public void Notify(WatchEvent e)
        {
            if (Volatile.Read(ref _disposed) == 0)
            {
                onEvent(e);
            }
        }

        public void Resync()
        {
            if (Volatile.Read(ref _disposed) == 0)
            {
                onResync();
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                client.Remove(this);
            }
        }
    }
}

/// <summary>A change of a client's connection or session.</summary>
internal enum SessionChange
{
    /// <summary>The connection dropped; the session may live on.</summary>
    Disconnected,

    /// <summary>Connected again with the same session.</summary>
    Reconnected,

    /// <summary>The session expired or its timeout passed without an answer: its ephemeral nodes are (or may be) gone.</summary>
    SessionLost,

    /// <summary>Connected with a new session after the old one was lost.</summary>
    NewSession,
}
