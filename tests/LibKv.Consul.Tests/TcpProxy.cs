using System.Net;
using System.Net.Sockets;

namespace LibKv.Consul.Tests;

/// <summary>
/// A loopback TCP proxy in front of one port that can go silent, as a partition or a paused host looks to a client:
/// <see cref="Freeze"/> keeps every connection open and forwards nothing either way until <see cref="Thaw"/>.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly List<TcpClient> _clients = new();
    private readonly CancellationTokenSource _cts = new();
    private TaskCompletionSource _thawed = NewThawed();

    public TcpProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start(64);
        _ = AcceptLoopAsync();
    }

    public string Endpoint => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Stops forwarding on every connection, open or new, without closing any.</summary>
    public void Freeze()
    {
        lock (_clients)
        {
            if (_thawed.Task.IsCompleted)
            {
                _thawed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>Forwards again, including what was held back.</summary>
    public void Thaw()
    {
        lock (_clients)
        {
            _thawed.TrySetResult();
        }
    }

    public ValueTask DisposeAsync()
    {
        _cts.Cancel();
        _listener.Stop();
        Thaw();
        lock (_clients)
        {
            foreach (var c in _clients)
            {
                c.Dispose();
            }

            _clients.Clear();
        }

        return ValueTask.CompletedTask;
    }

    private static TaskCompletionSource NewThawed()
    {
        var t = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        t.SetResult();
        return t;
    }

    private Task Thawed()
    {
        lock (_clients)
        {
            return _thawed.Task;
        }
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

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        var upstream = new TcpClient();
        lock (_clients)
        {
            _clients.Add(client);
            _clients.Add(upstream);
        }

        try
        {
            await Thawed().WaitAsync(_cts.Token);
            await upstream.ConnectAsync(IPAddress.Loopback, _targetPort);
        }
        catch (Exception)
        {
            client.Dispose();
            upstream.Dispose();
            return;
        }

        _ = PumpAsync(client, upstream);
        _ = PumpAsync(upstream, client);
    }

    private async Task PumpAsync(TcpClient from, TcpClient to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            var source = from.GetStream();
            var target = to.GetStream();
            while (true)
            {
                var read = await source.ReadAsync(buffer, _cts.Token);
                if (read == 0)
                {
                    break;
                }

                await Thawed().WaitAsync(_cts.Token);
                await target.WriteAsync(buffer.AsMemory(0, read), _cts.Token);
            }
        }
        catch (Exception)
        {
            // A closed connection or a disposed proxy.
        }

        from.Dispose();
        to.Dispose();
    }
}

/// <summary>A loopback listener that accepts connections and never answers; the kernel keeps what clients send.</summary>
public sealed class HungListener : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public HungListener() => _listener.Start(64);

    public string Endpoint => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>True when a client has connected (its connection waits in the backlog, unanswered).</summary>
    public bool WasContacted => _listener.Pending();

    /// <summary>The request line of every connection made so far.</summary>
    public List<string> RequestLines()
    {
        var lines = new List<string>();
        while (_listener.Pending())
        {
            using var client = _listener.AcceptTcpClient();
            client.ReceiveTimeout = 5000;
            var buffer = new byte[4096];
            var read = client.GetStream().Read(buffer);
            var text = System.Text.Encoding.ASCII.GetString(buffer, 0, read);
            lines.Add(text.Split("\r\n")[0]);
        }

        return lines;
    }

    public Task<TcpClient> AcceptAsync(CancellationToken cancellationToken) => _listener.AcceptTcpClientAsync(cancellationToken).AsTask();

    public void Dispose() => _listener.Stop();
}
