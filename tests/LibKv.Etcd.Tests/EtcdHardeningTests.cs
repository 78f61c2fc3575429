using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using LibKv.Conformance;
using Xunit;

namespace LibKv.Etcd.Tests;

/// <summary>Faults a healthy etcd cannot show: a server that accepts TCP but never answers, cancelled calls, failover.</summary>
public sealed class EtcdHardeningTests : IClassFixture<EtcdFixture>
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task CreateAsync_against_a_server_that_never_answers_fails_with_Unavailable_within_RequestTimeout()
    {
        await using var silent = new SilentServer();
        var options = new StoreOptions { Endpoints = { silent.Endpoint }, RequestTimeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", options));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains(silent.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"it took {clock.Elapsed}");
    }

    [Fact]
    public async Task An_endpoint_that_accepts_but_never_answers_is_skipped_for_calls_and_streams()
    {
        var server = await EtcdFixture.SharedServerAsync();
        await using var silent = new SilentServer();
        var options = new StoreOptions { Endpoints = { silent.Endpoint, server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N"), RequestTimeout = TimeSpan.FromSeconds(4) };
        await using var store = await StoreFactory.Default.CreateAsync("etcd", options);
        await store.PutAsync("k", Bytes("v"));
        Assert.Equal("v", Encoding.UTF8.GetString((await store.GetAsync("k")).Value));
        using var recorder = new Recorder<KVPair?>(store.Watch("k"));
        await recorder.WaitFor(items => items.Count > 0 && items[^1] is not null, "the first state");
        await store.PutAsync("k", Bytes("w"));
        await recorder.WaitFor(items => items[^1] is { } p && Encoding.UTF8.GetString(p.Value) == "w", "a change through the live endpoint's stream");
    }

    [Fact]
    public async Task A_keep_alive_put_with_a_cancelled_token_grants_no_lease()
    {
        var server = await EtcdFixture.SharedServerAsync();
        await using var store = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") });
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var keepAlive = new WriteOptions { Ttl = TimeSpan.FromSeconds(30), KeepAlive = true };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.PutAsync("k", Bytes("v"), keepAlive, cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.AtomicPutAsync("k", Bytes("v"), null, keepAlive, cancelled.Token));

        // Writes after it: a grant the cancelled calls had sent would be applied (and kept alive) before them.
        await store.PutAsync("other", Bytes("x"));
        await store.PutAsync("other", Bytes("y"));
        Assert.Empty(store.LeaseIds);
        Assert.False(await store.ExistsAsync("k"));
    }
}

/// <summary>A TCP server that accepts connections, reads what comes and never answers: a hung process.</summary>
internal sealed class SilentServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = new();
    private readonly Task _accept;

    public SilentServer()
    {
        _listener.Start();
        Endpoint = $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _accept = AcceptAsync();
    }

    public string Endpoint { get; }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
        }

        try
        {
            await _accept;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var socket = await _listener.AcceptSocketAsync(_stop.Token);
            lock (_sockets)
            {
                _sockets.Add(socket);
            }

            _ = DrainAsync(socket);
        }
    }

    private async Task DrainAsync(Socket socket)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token) > 0)
            {
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }
}
