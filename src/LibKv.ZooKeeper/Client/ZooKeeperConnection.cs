using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using LibKv.ZooKeeper.Jute;

namespace LibKv.ZooKeeper.Client;

/// <summary>
/// One TCP connection of a session: a writer loop (buffered, flushing when the queue runs dry) and a reader loop
/// (pooled frame buffer) matching replies to the pending queue in order. No lock is held across network waits.
/// </summary>
internal sealed class ZooKeeperConnection : IAsyncDisposable
{
    private const int MaxFrameBytes = 64 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly Channel<OutFrame> _outgoing = Channel.CreateUnbounded<OutFrame>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentQueue<Pending> _pending = new();
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<long> _pingsSent = new();
    private readonly IConnectionOwner _owner;
    private readonly TimeProvider _time;
    private readonly long _zxidFloor;
    private Task _loops = Task.CompletedTask;
    private long _lastReceived;
    private long _lastZxid;
    private int _closing;
    private bool _zxidChecked;

    /// <summary>
    /// A connection over <paramref name="stream"/> (the socket's, or TLS over it); <paramref name="zxidFloor"/> is the
    /// largest zxid the session saw before, to notice a server that went back.
    /// </summary>
    public ZooKeeperConnection(Socket socket, Stream stream, string endpoint, IConnectionOwner owner, TimeProvider time, long zxidFloor)
    {
        _socket = socket;
        _stream = stream;
        Endpoint = endpoint;
        _owner = owner;
        _time = time;
        _zxidFloor = zxidFloor;
        _lastReceived = time.GetTimestamp();
    }

    /// <summary>The host:port this connection talks to.</summary>
    public string Endpoint { get; }

    /// <summary>Completes when the connection has closed and every pending request failed.</summary>
    public Task Closed => _closed.Task;

    /// <summary>The largest zxid seen in a reply.</summary>
    public long LastZxid => Interlocked.Read(ref _lastZxid);

    /// <summary>Why the connection closed, when it failed.</summary>
    public Exception? CloseReason { get; private set; }

    public Stream Stream => _stream;

    /// <summary>Starts the read and write loops after the handshake.</summary>
    public void Start(TimeSpan pingInterval, TimeSpan readTimeout)
    {
        var read = Task.Run(ReadLoopAsync);
        var write = Task.Run(WriteLoopAsync);
        var ping = Task.Run(() => PingLoopAsync(pingInterval, readTimeout));
        _loops = Task.WhenAll(read, write, ping);
    }

    /// <summary>Queues a frame; false when the connection is closing (the caller fails the request).</summary>
    public bool TryEnqueue(OutFrame frame) => Volatile.Read(ref _closing) == 0 && _outgoing.Writer.TryWrite(frame);

    /// <summary>Closes the connection (idempotent) and fails what is pending with <paramref name="reason"/>.</summary>
    public void Abort(Exception reason)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        CloseReason = reason;
        _outgoing.Writer.TryComplete();
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        _stream.Dispose();
        _ = FinishAsync(reason);
    }

    public async ValueTask DisposeAsync()
    {
        Abort(new ObjectDisposedException(nameof(ZooKeeperConnection)));
        await _closed.Task.ConfigureAwait(false);
    }

    private async Task FinishAsync(Exception reason)
    {
        try
        {
            await _loops.ConfigureAwait(false);
        }
        catch
        {
            // The loops end by cancellation or by the error that caused the abort.
        }

        while (_outgoing.Reader.TryRead(out var frame))
        {
            frame.Pending?.Fail(reason);
            frame.Buffer.Dispose();
        }

        while (_pending.TryDequeue(out var pending))
        {
            pending.Fail(reason);
        }

        _cts.Dispose();
        _closed.TrySetResult();
    }

    private async Task WriteLoopAsync()
    {
        var ct = _cts.Token;
        var reader = _outgoing.Reader;
        var buffered = new BufferedStream(_stream, 64 * 1024);
        try
        {
            while (await reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (reader.TryRead(out var frame))
                {
                    frame.Taken = true;
                    var sent = _time.GetTimestamp();
                    if (frame.Pending is { } p)
                    {
                        p.SentAt = sent;
                        _pending.Enqueue(p);
                    }
                    else if (frame.IsPing)
                    {
                        _pingsSent.Enqueue(sent);
                    }

                    try
                    {
                        await buffered.WriteAsync(frame.Buffer.WrittenMemory, ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        frame.Buffer.Dispose();
                    }
                }

                await buffered.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            // Any failure, even an unexpected one, must end the connection so the session loop reconnects.
            Abort(new ConnectionLostException($"Writing to {Endpoint} failed: {e.Message}", e));
        }
    }

    private async Task ReadLoopAsync()
    {
        var ct = _cts.Token;
        var header = new byte[4];
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        var input = new BufferedStream(_stream, 64 * 1024);
        try
        {
            while (true)
            {
                await input.ReadExactlyAsync(header, ct).ConfigureAwait(false);
                var length = BinaryPrimitives.ReadInt32BigEndian(header);
                if (length < 16 || length > MaxFrameBytes)
                {
                    throw new InvalidDataException($"Bad reply frame length {length}.");
                }

                if (length > buffer.Length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(length);
                }

                await input.ReadExactlyAsync(buffer.AsMemory(0, length), ct).ConfigureAwait(false);
                Volatile.Write(ref _lastReceived, _time.GetTimestamp());
                Dispatch(buffer.AsSpan(0, length));
            }
        }
        catch (Exception e)
        {
            // Any failure, even an unexpected one, must end the connection so the session loop reconnects.
            Abort(new ConnectionLostException($"Reading from {Endpoint} failed: {e.Message}", e));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Dispatch(ReadOnlySpan<byte> frame)
    {
        var r = new JuteReader(frame);
        var xid = r.ReadInt();
        var zxid = r.ReadLong();
        var err = r.ReadInt();
        if (zxid > 0)
        {
            if (!_zxidChecked)
            {
                // Before anything of this connection is delivered: a server whose history went back (rebuilt from scratch).
                _zxidChecked = true;
                if (zxid < _zxidFloor)
                {
                    _owner.OnZxidWentBack(zxid);
                }
            }

            if (zxid > Interlocked.Read(ref _lastZxid))
            {
                Interlocked.Exchange(ref _lastZxid, zxid);
            }
        }

        switch (xid)
        {
            case Xid.Notification:
                var type = r.ReadInt();
                var state = r.ReadInt();
                var path = r.ReadString() ?? "/";
                _owner.OnEvent(new WatchEvent((WatchEventType)type, state, path));
                return;
            case Xid.Ping:
                if (_pingsSent.TryDequeue(out var pingSent))
                {
                    _owner.OnAnswered(pingSent, ping: true);
                }

                return;
            case Xid.SetWatches:
                return;
            case Xid.Auth:
                _owner.OnAuthReply(err);
                return;
        }

        if (!_pending.TryDequeue(out var pending))
        {
            throw new InvalidDataException($"A reply (xid {xid}) arrived with no request pending.");
        }

        if (pending.Xid != xid)
        {
            pending.Fail(new ConnectionLostException($"Reply xid {xid} does not match request xid {pending.Xid}.", null));
            throw new InvalidDataException($"Reply xid {xid} out of order (expected {pending.Xid}).");
        }

        _owner.OnAnswered(pending.SentAt, ping: false);
        pending.Complete(err, ref r);
    }

    private async Task PingLoopAsync(TimeSpan interval, TimeSpan readTimeout)
    {
        var ct = _cts.Token;
        try
        {
            // Checked often, so that silence is noticed soon after readTimeout, well before the session's time runs out.
            var tick = readTimeout / 10;
            var lastPing = _time.GetTimestamp();
            while (true)
            {
                await Task.Delay(tick, _time, ct).ConfigureAwait(false);
                if (_time.GetElapsedTime(Volatile.Read(ref _lastReceived)) > readTimeout)
                {
                    Abort(new ConnectionLostException($"No reply from {Endpoint} for {readTimeout.TotalMilliseconds:0} ms.", null));
                    return;
                }

                if (_time.GetElapsedTime(lastPing) < interval)
                {
                    continue;
                }

                lastPing = _time.GetTimestamp();

                var w = new JuteWriter(16);
                w.BeginFrame();
                w.WriteInt(Xid.Ping);
                w.WriteInt(OpCode.Ping);
                w.PatchFrameLength();
                if (!TryEnqueue(new OutFrame(w, null) { IsPing = true }))
                {
                    w.Dispose();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>What a connection reports to the session that owns it; called on the connection's reader.</summary>
internal interface IConnectionOwner
{
    /// <summary>A watch notification.</summary>
    void OnEvent(WatchEvent e);

    /// <summary>The reply to an addauth.</summary>
    void OnAuthReply(int error);

    /// <summary>The server answered a request (or a ping) sent at <paramref name="sentTimestamp"/>.</summary>
    void OnAnswered(long sentTimestamp, bool ping);

    /// <summary>The first zxid this connection saw is below every zxid the session had seen: the server's history went back.</summary>
    void OnZxidWentBack(long zxid);
}

/// <summary>The connection to the server dropped (ZooKeeper's ConnectionLoss); the session may live on.</summary>
internal sealed class ConnectionLostException(string message, Exception? inner) : Exception(message, inner);
