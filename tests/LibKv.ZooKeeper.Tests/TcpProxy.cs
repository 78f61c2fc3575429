using System.Net;
using System.Net.Sockets;

namespace LibKv.ZooKeeper.Tests;

/// <summary>A loopback TCP proxy that can cut every connection and refuse new ones, as a network partition would.</summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly List<(TcpClient A, TcpClient B)> _pairs = new();
    private readonly CancellationTokenSource _cts = new();
    private volatile bool _blocked;

    public TcpProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    public string Endpoint => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Closes every forwarded connection and refuses new ones until <see cref="Unblock"/>.</summary>
    public void Block()
    {
        _blocked = true;
        lock (_pairs)
        {
            foreach (var (a, b) in _pairs)
            {
                a.Dispose();
                b.Dispose();
            }

            _pairs.Clear();
        }
    }

    public void Unblock() => _blocked = false;

    /// <summary>Accepts new connections but never forwards them: a host that does not answer.</summary>
    public bool Silent { get; set; }

    /// <summary>
    /// Stops forwarding in both directions while every connection stays open, and new ones are accepted but not
    /// forwarded: a paused server or a partition that drops packets (nothing tells either side).
    /// </summary>
    public bool Frozen { get; set; }

    /// <summary>Closes this many of the next accepted connections at once, as a server that is just starting may.</summary>
    public int CloseNext { get; set; }

    /// <summary>How many connections were accepted so far.</summary>
    public int Accepted { get; private set; }

    /// <summary>Delay added before each chunk of replies (server to client) is forwarded: a slow network.</summary>
    public TimeSpan ReplyDelay { get; set; }

    public ValueTask DisposeAsync()
    {
        _cts.Cancel();
        _listener.Stop();
        Block();
        return ValueTask.CompletedTask;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_cts.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_cts.Token);
            }
            catch (Exception)
            {
                return;
            }

            Accepted++;
            if (_blocked || (CloseNext > 0 && CloseNext-- > 0))
            {
                client.Dispose();
                continue;
            }

            if (Silent || Frozen)
            {
                lock (_pairs)
                {
                    _pairs.Add((client, new TcpClient()));
                }

                continue;
            }

            var upstream = new TcpClient();
            try
            {
                await upstream.ConnectAsync(IPAddress.Loopback, _targetPort);
            }
            catch (SocketException)
            {
                client.Dispose();
                upstream.Dispose();
                continue;
            }

            lock (_pairs)
            {
                _pairs.Add((client, upstream));
            }

            // Each direction ends on its own (half-close), so bytes already read still reach the server when the
            // client has gone; the pair is closed once both directions ended.
            var requests = PumpAsync(client, upstream, this, reply: false);
            var replies = PumpAsync(upstream, client, this, reply: true);
            _ = Task.WhenAll(requests, replies).ContinueWith(
                _ =>
                {
                    client.Dispose();
                    upstream.Dispose();
                },
                TaskScheduler.Default);
        }
    }

    private static async Task PumpAsync(TcpClient from, TcpClient to, TcpProxy proxy, bool reply)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            var source = from.GetStream();
            var target = to.GetStream();
            while (true)
            {
                var read = await source.ReadAsync(buffer);
                if (read == 0)
                {
                    break;
                }

                if (reply && proxy.ReplyDelay > TimeSpan.Zero)
                {
                    await Task.Delay(proxy.ReplyDelay);
                }

                while (proxy.Frozen)
                {
                    await Task.Delay(20);
                }

                await target.WriteAsync(buffer.AsMemory(0, read));
            }
        }
        catch (Exception)
        {
            // A cut connection.
        }

        try
        {
            to.Client.Shutdown(SocketShutdown.Send);
        }
        catch (Exception)
        {
            // Already closed.
        }
    }
}
