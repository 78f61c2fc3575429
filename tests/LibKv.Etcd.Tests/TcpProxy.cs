using System.Net;
using System.Net.Sockets;

namespace LibKv.Etcd.Tests;

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

            if (_blocked)
            {
                client.Dispose();
                continue;
            }

            if (Silent)
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

            _ = PumpAsync(client, upstream, null);
            _ = PumpAsync(upstream, client, this);
        }
    }

    private static async Task PumpAsync(TcpClient from, TcpClient to, TcpProxy? delayed)
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

                if (delayed is { ReplyDelay: var delay } && delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay);
                }

                await target.WriteAsync(buffer.AsMemory(0, read));
            }
        }
        catch (Exception)
        {
            // A cut connection.
        }

        from.Dispose();
        to.Dispose();
    }
}
