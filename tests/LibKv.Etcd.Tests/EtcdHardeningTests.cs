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

    [Fact]
    public async Task Concurrent_keep_alive_writes_of_one_ttl_share_one_lease()
    {
        var server = await EtcdFixture.SharedServerAsync();
        for (var round = 0; round < 5; round++)
        {
            await using var store = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") });
            var keepAlive = new WriteOptions { Ttl = TimeSpan.FromSeconds(30), KeepAlive = true };
            using var start = new ManualResetEventSlim();
            var writers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
            {
                start.Wait();
                await store.PutAsync($"k/{i}", Bytes("v"), keepAlive);
            })).ToArray();
            start.Set();
            await Task.WhenAll(writers);
            Assert.Single(store.LeaseIds);
        }
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

/// <summary>What the server sees: watches cancelled on its side, waiter keys removed (a dedicated server, so counts are ours).</summary>
public sealed class EtcdServerSideTests(DedicatedEtcd etcd) : IClassFixture<DedicatedEtcd>
{
    private static readonly HttpClient s_http = new();

    [Fact]
    public async Task Disposing_a_subscription_cancels_its_server_side_watch_and_disposing_the_store_ends_the_rest()
    {
        var options = new StoreOptions { Endpoints = { etcd.Server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") };
        var store = await EtcdStore.CreateAsync(options);
        try
        {
            var baseline = await WatchersAsync();
            using (var watch = new Recorder<KVPair?>(store.Watch("k")))
            using (var tree = new Recorder<IReadOnlyList<KVPair>>(store.WatchTree("d")))
            {
                await watch.WaitFor(items => items.Count > 0, "the first state");
                await tree.WaitFor(items => items.Count > 0, "the first snapshot");
                await EventuallyAsync(async () => await WatchersAsync() == baseline + 2, "two server-side watchers");
            }

            await EventuallyAsync(async () => await WatchersAsync() == baseline, "the server-side watchers to be cancelled");

            var live = new Recorder<KVPair?>(store.Watch("k"));
            await live.WaitFor(items => items.Count > 0, "the first state");
            await EventuallyAsync(async () => await WatchersAsync() == baseline + 1, "one server-side watcher");
            await store.DisposeAsync();
            await live.Ended.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(live.Completed);
            await EventuallyAsync(async () => await WatchersAsync() == baseline, "the store's watchers to end with it");
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Deleting_the_owners_waiter_key_ends_the_hold()
    {
        var options = new StoreOptions { Endpoints = { etcd.Server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") };
        await using var a = await EtcdStore.CreateAsync(options);
        await using var locker = a.NewLock("lock");
        var lost = await locker.LockAsync();
        var waiters = await a.Connection.RangeAsync(new Protocol.RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8(options.Root + "/\u0001lock/"), RangeEnd = Google.Protobuf.ByteString.CopyFromUtf8(options.Root + "/\u0001lock0") }, null, CancellationToken.None);
        var waiter = Assert.Single(waiters.Kvs, kv => kv.Key.ToStringUtf8().Contains(options.Root!, StringComparison.Ordinal));
        await a.Connection.DeleteAsync(new Protocol.DeleteRangeRequest { Key = waiter.Key }, null, CancellationToken.None);
        await EventuallyAsync(() => Task.FromResult(lost.IsCancellationRequested), "the hold to end");
        Assert.False(locker.IsHeld);
    }

    [Fact]
    public async Task Disposing_the_store_of_a_waiting_locker_ends_the_wait_and_removes_its_waiter_key()
    {
        var options = new StoreOptions { Endpoints = { etcd.Server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") };
        await using var a = await EtcdStore.CreateAsync(options);
        var b = await EtcdStore.CreateAsync(options);
        await using var holder = a.NewLock("lock");
        await holder.LockAsync();
        var waiting = b.NewLock("lock").LockAsync().AsTask();
        await EventuallyAsync(async () => (await WaitersAsync(a, options.Root!)).Count == 2, "the second waiter key");
        var ranges = await CounterAsync("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Range\"");
        await b.DisposeAsync();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(e is ObjectDisposedException or OperationCanceledException, e.ToString());
        // The waiter key goes with its lease, which the closing store revokes; the revoke may land just after the wait ends.
        await EventuallyAsync(async () => (await WaitersAsync(a, options.Root!)).Count == 1, "the disposed store's waiter key to go");
        Assert.True(await CounterAsync("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Range\"") - ranges < 3, $"the waiter must not spin on a closing store: {await CounterAsync("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Range\"") - ranges} reads; {e.GetType().Name}");
        Assert.True(holder.IsHeld);
    }

    [Fact]
    public async Task A_frozen_server_fails_calls_within_RequestTimeout_and_the_watch_goes_on_after_it_resumes()
    {
        var options = new StoreOptions { Endpoints = { etcd.Server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N"), RequestTimeout = TimeSpan.FromSeconds(2) };
        await using var a = await EtcdStore.CreateAsync(options);
        await a.PutAsync("k", Encoding.UTF8.GetBytes("v1"));
        using var watch = new Recorder<KVPair?>(a.Watch("k"));
        await watch.WaitFor(items => items.Count > 0 && items[^1] is not null, "the first state");
        etcd.Server.Signal("STOP");
        try
        {
            var clock = Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<KvException>(async () => await a.GetAsync("k"));
            Assert.Equal(KvErrorCode.Unavailable, e.Code);
            Assert.True(e.IsTransient);
            Assert.Contains(etcd.Server.Endpoint, e.Message, StringComparison.Ordinal);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the call took {clock.Elapsed}");
            var w = await Assert.ThrowsAsync<KvException>(async () => await a.DeleteAsync("k"));
            Assert.Equal(KvErrorCode.Unavailable, w.Code);
        }
        finally
        {
            etcd.Server.Signal("CONT");
        }

        await using var b = await EtcdStore.CreateAsync(options);
        await b.PutAsync("k", Encoding.UTF8.GetBytes("v2"));
        await watch.WaitFor(items => items[^1] is { } p && Encoding.UTF8.GetString(p.Value) == "v2", "a change after the server resumed", TimeSpan.FromSeconds(40));
        Assert.Null(watch.Error);
    }

    [Fact]
    public async Task A_cancelled_wait_removes_its_waiter_key_and_its_lease()
    {
        var options = new StoreOptions { Endpoints = { etcd.Server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") };
        await using var a = await EtcdStore.CreateAsync(options);
        await using var b = await EtcdStore.CreateAsync(options);
        await using var holder = a.NewLock("lock");
        await holder.LockAsync();
        await using var waiter = b.NewLock("lock");
        using var cts = new CancellationTokenSource();
        var waiting = waiter.LockAsync(cts.Token).AsTask();
        await EventuallyAsync(async () => (await WaitersAsync(a, options.Root!)).Count == 2, "the second waiter key");
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Single(await WaitersAsync(a, options.Root!));
        Assert.Empty(b.LeaseIds);
        Assert.True(holder.IsHeld);
    }

    private static async Task<IList<Protocol.KeyValue>> WaitersAsync(EtcdStore store, string root)
    {
        var all = await store.Connection.RangeAsync(new Protocol.RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8(root + "/\u0001lock/"), RangeEnd = Google.Protobuf.ByteString.CopyFromUtf8(root + "/\u0001lock0") }, null, CancellationToken.None);
        return all.Kvs;
    }

    private async Task<long> CounterAsync(string prefix)
    {
        var text = await s_http.GetStringAsync($"http://{etcd.Server.Endpoint}/metrics");
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    private async Task<long> WatchersAsync()
    {
        var text = await s_http.GetStringAsync($"http://{etcd.Server.Endpoint}/metrics");
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("etcd_debugging_mvcc_watcher_total ", StringComparison.Ordinal))
            {
                return (long)double.Parse(line["etcd_debugging_mvcc_watcher_total ".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException("etcd reported no etcd_debugging_mvcc_watcher_total.");
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "timed out waiting for " + what);
            await Task.Delay(50);
        }
    }
}
