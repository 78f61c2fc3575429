using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using LibKv.Conformance;
using Microsoft.Extensions.Logging;
using Xunit;

namespace LibKv.ZooKeeper.Tests;

/// <summary>Issue 8: the faults a store must survive, made to happen against real servers.</summary>
public sealed class ZooKeeperFaultTests
{
    internal static readonly TimeSpan Deadline = TimeSpan.FromSeconds(40);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(byte[] value) => Encoding.UTF8.GetString(value);

    private static string NewRoot() => "t/" + Guid.NewGuid().ToString("N");

    private static async Task<ZooKeeperStore> OpenAsync(string endpoints, string root, Action<StoreOptions>? configure = null)
    {
        var options = new StoreOptions { Backend = "zookeeper", Endpoints = { endpoints }, Root = root };
        configure?.Invoke(options);
        return (ZooKeeperStore)await StoreFactory.Default.CreateAsync(options);
    }

    internal static async Task Eventually(Func<Task<bool>> condition, string what, CapturingLogger? log = null)
    {
        var until = DateTime.UtcNow + Deadline;
        while (!await condition())
        {
            if (DateTime.UtcNow > until)
            {
                Assert.Fail("Timed out waiting for: " + what + (log is null ? string.Empty : "\n" + log.Dump()));
            }

            await Task.Delay(50);
        }
    }

    private static async Task<bool> WorksAsync(IStore store)
    {
        try
        {
            await store.PutAsync("probe", Bytes("x"));
            return true;
        }
        catch (KvException e) when (e.IsTransient)
        {
            return false;
        }
    }

    // Item 4.
    [Fact]
    public async Task The_first_connect_is_retried_when_the_server_closes_the_first_connections()
    {
        var server = await ZooKeeperServer.Shared;
        await using var proxy = new TcpProxy(server.Port) { CloseNext = 3 };
        await using var store = await OpenAsync(proxy.Endpoint, NewRoot());
        Assert.True(proxy.Accepted >= 4);
        await store.PutAsync("k", Bytes("v"));
        Assert.Equal("v", Text((await store.GetAsync("k")).Value));
    }

    // Item 4.
    [Fact]
    public async Task The_first_connect_waits_for_a_server_that_is_just_starting()
    {
        await using var server = await ZooKeeperServer.StartAsync(waitUntilReady: false);
        await using var store = await OpenAsync(server.Endpoint, NewRoot(), o => o.ConnectionTimeout = TimeSpan.FromSeconds(60));
        await store.PutAsync("k", Bytes("v"));
        Assert.Equal("v", Text((await store.GetAsync("k")).Value));
    }

    // Item 4: the retries are bounded by ConnectionTimeout.
    [Fact]
    public async Task The_first_connect_gives_up_after_the_connection_timeout_naming_each_host()
    {
        var server = await ZooKeeperServer.Shared;
        await using var a = new TcpProxy(server.Port) { CloseNext = int.MaxValue };
        await using var b = new TcpProxy(server.Port) { CloseNext = int.MaxValue };
        var e = await Assert.ThrowsAsync<KvException>(async () =>
            await OpenAsync($"{a.Endpoint},{b.Endpoint}", NewRoot(), o => o.ConnectionTimeout = TimeSpan.FromSeconds(1)));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains(a.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.Contains(b.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.True(a.Accepted >= 2 && b.Accepted >= 2, $"each host was tried more than once ({a.Accepted}, {b.Accepted})");
    }

    // Item 11.
    [Fact]
    public async Task A_holder_cut_off_by_a_silent_network_loses_the_lock_before_another_client_acquires_it()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var holderStore = await OpenAsync(proxy.Endpoint, root);
        await using var otherStore = await OpenAsync(server.Endpoint, root);
        var ttl = new LockOptions { Ttl = TimeSpan.FromSeconds(2) };
        await using var holder = holderStore.NewLock("job", ttl);
        var lost = await holder.LockAsync();
        var fencing = holder.FencingToken;

        // The hold is certain until the lock session's timeout (5 s for a 2 s TTL class) from its last answered request.
        var heldUntil = holder.HeldUntil - DateTimeOffset.UtcNow;
        Assert.True(heldUntil > TimeSpan.Zero && heldUntil <= TimeSpan.FromSeconds(5), $"HeldUntil is {heldUntil} from now");
        long lostAt = 0;
        lost.Register(() => Interlocked.Exchange(ref lostAt, Stopwatch.GetTimestamp()));
        await using var other = otherStore.NewLock("job", ttl);
        var acquiring = other.LockAsync().AsTask();

        // Packets dropped, nothing closed: the holder hears nothing, the server hears nothing and expires the session.
        proxy.Frozen = true;
        await acquiring.WaitAsync(Deadline);
        var acquiredAt = Stopwatch.GetTimestamp();
        Assert.True(other.FencingToken > fencing);
        Assert.True(lost.IsCancellationRequested, "the holder still believed it held the lock when another client acquired it");
        Assert.True(Interlocked.Read(ref lostAt) < acquiredAt);
        Assert.False(holder.IsHeld);
        Assert.Equal(DateTimeOffset.MinValue, holder.HeldUntil);
    }

    // Item 11: a reconnect tries the other hosts before the one that just went silent.
    [Fact]
    public async Task A_session_whose_host_goes_silent_moves_to_another_host_and_keeps_its_lock()
    {
        var server = await ZooKeeperServer.Shared;
        await using var first = new TcpProxy(server.Port);
        await using var second = new TcpProxy(server.Port);
        await using var third = new TcpProxy(server.Port);
        var log = new CapturingLogger();
        await using var store = await OpenAsync($"{first.Endpoint},{second.Endpoint},{third.Endpoint}", NewRoot(), o => o.LoggerFactory = log);
        await using var locker = store.NewLock("job", new LockOptions { Ttl = TimeSpan.FromSeconds(5) });
        var lost = await locker.LockAsync();
        var session = store.Client.SessionId;
        var before = second.Accepted + third.Accepted;

        first.Frozen = true;
        await Eventually(async () => second.Accepted + third.Accepted > before && await WorksAsync(store), "the store to work through another host", log);
        Assert.Equal(session, store.Client.SessionId);
        Assert.False(lost.IsCancellationRequested);
        Assert.True(locker.IsHeld);
        Assert.Equal(1, first.Accepted);
    }

    // Item 1.
    [Fact]
    public async Task Keep_alive_keys_are_written_again_with_their_last_value_after_the_session_expired()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var service = await OpenAsync(proxy.Endpoint, root);
        await using var observer = await OpenAsync(server.Endpoint, root);
        var keepAlive = new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true };
        await service.PutAsync("svc/a", Bytes("old"), keepAlive);
        await service.PutAsync("svc/a", Bytes("a"), keepAlive);
        await service.PutAsync("svc/main", Bytes("m"), new WriteOptions { Ttl = TimeSpan.FromSeconds(6), KeepAlive = true });
        await service.PutAsync("svc/deleted", Bytes("d"), keepAlive);
        await service.DeleteAsync("svc/deleted");
        await service.PutAsync("svc/plain", Bytes("p1"), keepAlive);
        await service.PutAsync("svc/plain", Bytes("p2"));
        var sessions = service.Sessions.All.Select(s => s.SessionId).ToList();

        // Cut off past every session timeout: the server expires the sessions and drops their ephemeral nodes.
        proxy.Block();
        await Eventually(async () => !await observer.ExistsAsync("svc/a") && !await observer.ExistsAsync("svc/main"), "the keep-alive keys to expire");
        await observer.PutAsync("svc/main", Bytes("someone else"));
        proxy.Unblock();

        await Eventually(
            async () => await observer.ExistsAsync("svc/a") && Text((await observer.GetAsync("svc/main")).Value) == "m",
            "the keep-alive keys to be written again");
        Assert.Equal("a", Text((await observer.GetAsync("svc/a")).Value));
        Assert.DoesNotContain(service.Sessions.All, s => sessions.Contains(s.SessionId));
        Assert.False(await observer.ExistsAsync("svc/deleted"));
        Assert.Equal("p2", Text((await observer.GetAsync("svc/plain")).Value));

        // Kept alive from then on: on the new sessions, and gone with the store.
        var node = await observer.Client.GetDataAsync(observer.Paths.PathOf("svc/a"), CancellationToken.None);
        Assert.Contains(service.Sessions.All, s => s.SessionId == node.Stat.EphemeralOwner);
        await service.DisposeAsync();
        Assert.False(await observer.ExistsAsync("svc/a"));
        Assert.False(await observer.ExistsAsync("svc/main"));
    }

    // Item 12.
    [Fact]
    public async Task A_watch_whose_server_goes_silent_moves_to_another_host_within_the_request_timeout_and_resumes()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var first = new TcpProxy(server.Port);
        await using var second = new TcpProxy(server.Port);
        var requestTimeout = TimeSpan.FromSeconds(4);
        await using var watcher = await OpenAsync($"{first.Endpoint},{second.Endpoint}", root, o => o.RequestTimeout = requestTimeout);
        await using var writer = await OpenAsync(server.Endpoint, root);
        await writer.PutAsync("k", Bytes("1"));
        using var recorder = new Recorder<KVPair?>(watcher.Watch("k"));
        await recorder.WaitForLast(p => p is not null && Text(p.Value) == "1", "the first value");

        // The watch's server stops answering (paused); the session's 10 s timeout is longer than the request timeout.
        first.Frozen = true;
        var frozenAt = Stopwatch.StartNew();
        await writer.PutAsync("k", Bytes("2"));
        await recorder.WaitFor(items => items.Count > 0 && items[^1] is { } p && Text(p.Value) == "2", "the change made while the server was silent", Deadline);
        var delivered = frozenAt.Elapsed;
        Assert.True(second.Accepted > 0);

        // Silence is noticed within the request timeout and the other host is tried first (a generous margin on a loaded machine).
        Assert.True(delivered < requestTimeout * 2, $"the change arrived {delivered.TotalSeconds:0.0} s after the server went silent");
        await writer.PutAsync("k", Bytes("3"));
        await recorder.WaitForLast(p => p is not null && Text(p.Value) == "3", "a later change");
    }

    // Item 14.
    [Fact]
    public async Task States_report_suspension_reconnection_session_loss_and_closing()
    {
        var server = await ZooKeeperServer.Shared;
        await using var proxy = new TcpProxy(server.Port);
        var store = await OpenAsync(proxy.Endpoint, NewRoot(), o => o.SessionTimeout = TimeSpan.FromSeconds(3));
        using var states = new Recorder<StoreState>(store.States);
        await states.WaitForLast(s => s == StoreState.Connected, "Connected");
        var session = store.Client.SessionId;

        proxy.Block();
        await states.WaitForLast(s => s == StoreState.Suspended, "Suspended on disconnect");
        proxy.Unblock();
        await states.WaitForLast(s => s == StoreState.Reconnected, "Reconnected with the same session");
        Assert.Equal(session, store.Client.SessionId);

        proxy.Block();
        await states.WaitForLast(s => s == StoreState.SessionLost, "SessionLost once the session timeout passed without an answer");
        proxy.Unblock();
        await states.WaitForLast(s => s == StoreState.Reconnected, "Reconnected when a session is up again");
        Assert.True(await WorksAsync(store));
        Assert.Equal(
            new[] { StoreState.Connected, StoreState.Suspended, StoreState.Reconnected, StoreState.Suspended, StoreState.SessionLost, StoreState.Reconnected },
            states.Items);

        await store.DisposeAsync();
        await states.Ended.WaitAsync(Deadline);
        Assert.Equal(StoreState.Closed, states.Items[^1]);
    }

    // Item 14: a session the server expired (closed by another connection) is SessionLost, then Reconnected.
    [Fact]
    public async Task States_report_a_session_the_server_expired()
    {
        var server = await ZooKeeperServer.Shared;
        await using var store = await OpenAsync(server.Endpoint, NewRoot());
        using var states = new Recorder<StoreState>(store.States);
        await states.WaitForLast(s => s == StoreState.Connected, "Connected");
        await ZooKeeperFixture.ExpireAsync(store);
        await states.WaitFor(items => items.Contains(StoreState.SessionLost) && items[^1] == StoreState.Reconnected, "SessionLost then Reconnected", Deadline);
        Assert.True(await WorksAsync(store));
    }

    // Item 9.
    [Fact]
    public async Task An_outage_logs_one_warning_debug_retries_and_one_information_with_its_length()
    {
        var server = await ZooKeeperServer.Shared;
        await using var proxy = new TcpProxy(server.Port);
        var log = new CapturingLogger();
        await using var store = await OpenAsync(proxy.Endpoint, NewRoot(), o => o.LoggerFactory = log);
        var before = log.Lines.Count;

        proxy.Block();
        await Eventually(() => Task.FromResult(log.Lines.Skip(before).Count(l => l.Level == LogLevel.Debug && l.Message.Contains("attempt", StringComparison.Ordinal)) >= 3), "a few failed reconnects");
        proxy.Unblock();
        await Eventually(() => WorksAsync(store), "the store to work again");
        await Eventually(() => Task.FromResult(log.Lines.Skip(before).Any(l => l.Level == LogLevel.Information)), "the recovery line");

        var outage = log.Lines.Skip(before).ToList();
        var warning = Assert.Single(outage, l => l.Level >= LogLevel.Warning);
        Assert.Contains(proxy.Endpoint, warning.Message, StringComparison.Ordinal);
        var recovered = Assert.Single(outage, l => l.Level == LogLevel.Information);
        Assert.Contains("after an outage of", recovered.Message, StringComparison.Ordinal);
        Assert.True(outage.Count(l => l.Level == LogLevel.Debug) >= 3, log.Dump());
    }

    // Item 10.
    [Fact]
    public async Task A_write_sent_without_an_answer_is_outcome_unknown_and_may_still_be_applied_late()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var store = await OpenAsync(proxy.Endpoint, root, o => o.RequestTimeout = TimeSpan.FromSeconds(2));
        await using var observer = await OpenAsync(server.Endpoint, root);
        await store.PutAsync("k", Bytes("1"));

        proxy.Frozen = true;
        var put = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("k", Bytes("2")));
        Assert.Equal(KvErrorCode.Unavailable, put.Code);
        Assert.True(put.IsTransient);
        Assert.True(put.OutcomeUnknown, put.Message);
        Assert.Equal("1", Text((await observer.GetAsync("k")).Value));

        // The request was on its way: once the network delivers it, the server applies it (LibKv sent it once).
        proxy.Frozen = false;
        await Eventually(async () => Text((await observer.GetAsync("k")).Value) == "2", "the late application of the unknown write");
        Assert.Equal(1, (await observer.Client.GetDataAsync(observer.Paths.PathOf("k"), CancellationToken.None)).Stat.Version);
    }

    // Item 10.
    [Fact]
    public async Task A_write_that_certainly_was_not_sent_is_not_outcome_unknown()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var store = await OpenAsync(proxy.Endpoint, root, o => o.RequestTimeout = TimeSpan.FromSeconds(1));
        await using var observer = await OpenAsync(server.Endpoint, root);

        proxy.Block();
        await Eventually(() => Task.FromResult(!store.Client.IsConnected), "the cut to be noticed");
        var put = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("k", Bytes("v")));
        Assert.Equal(KvErrorCode.Unavailable, put.Code);
        Assert.False(put.OutcomeUnknown, put.Message);
        var cas = await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("k", Bytes("v"), null));
        Assert.False(cas.OutcomeUnknown, cas.Message);
        Assert.False(await observer.ExistsAsync("k"));
    }

    // Item 6.
    [Fact]
    public async Task Endpoint_forms_work_and_wrong_ones_fail_at_start_naming_the_text()
    {
        var server = await ZooKeeperServer.Shared;
        int closed;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            closed = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        await using (var commaList = await OpenAsync($"127.0.0.1:{closed},{server.Endpoint}", NewRoot()))
        {
            Assert.True(await WorksAsync(commaList));
        }

        await using (var http = await OpenAsync($"http://{server.Endpoint}", NewRoot()))
        {
            Assert.True(await WorksAsync(http));
        }

        // https:// (TLS on the secureClientPort) is covered by ZooKeeperTlsTests.
        var bad = await Assert.ThrowsAsync<KvException>(async () => await OpenAsync("not an endpoint", NewRoot()));
        Assert.Equal(KvErrorCode.InvalidConfiguration, bad.Code);
        Assert.Contains("not an endpoint", bad.Message, StringComparison.Ordinal);
    }

    // Item 7.
    [Fact]
    public async Task A_store_pointed_at_etcd_fails_with_InvalidConfiguration_naming_what_answered()
    {
        if (!EtcdProcess.Installed)
        {
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "etcd is missing on CI");
            return;
        }

        await using var etcd = await EtcdProcess.StartAsync();
        var e = await Assert.ThrowsAsync<KvException>(async () =>
            await OpenAsync(etcd.Endpoint, NewRoot(), o => o.ConnectionTimeout = TimeSpan.FromSeconds(2)));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.False(e.IsTransient);
        Assert.Contains(etcd.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.Contains("not a ZooKeeper server: it", e.Message, StringComparison.Ordinal);
        Assert.Contains("etcd", e.Message, StringComparison.Ordinal);
    }

    // Item 7.
    [Fact]
    public async Task A_store_pointed_at_a_server_that_answers_http_at_once_names_it()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var cts = new CancellationTokenSource();
        var serving = Task.Run(async () =>
        {
            while (!cts.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(cts.Token);
                var stream = client.GetStream();
                _ = await stream.ReadAsync(new byte[1024], cts.Token);
                await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), cts.Token);
            }
        });
        var e = await Assert.ThrowsAsync<KvException>(async () => await OpenAsync($"127.0.0.1:{port}", NewRoot()));
        cts.Cancel();
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains($"127.0.0.1:{port} is not a ZooKeeper server: it answered", e.Message, StringComparison.Ordinal);
        Assert.Contains("HTTP/1.1 400 Bad Request", e.Message, StringComparison.Ordinal);
    }
}

/// <summary>Issue 8 tests that start their own servers: one wiped and restarted, an ensemble with a paused member.</summary>
public sealed class ZooKeeperRebuiltServerTests
{
    // Item 2.
    [Fact]
    public async Task A_watch_keeps_delivering_after_the_server_is_rebuilt_from_scratch_with_lower_zxids()
    {
        await using var server = await ZooKeeperServer.StartAsync();
        var root = "t/" + Guid.NewGuid().ToString("N");
        var options = new StoreOptions { Backend = "zookeeper", Endpoints = { server.Endpoint }, Root = root, SessionTimeout = TimeSpan.FromSeconds(3) };
        await using var watcher = (ZooKeeperStore)await StoreFactory.Default.CreateAsync(options);
        using var recorder = new Recorder<KVPair?>(watcher.Watch("k"));
        ulong before;
        await using (var writer = await StoreFactory.Default.CreateAsync(options))
        {
            for (var i = 0; i < 40; i++)
            {
                await writer.PutAsync("k", Encoding.UTF8.GetBytes("old" + i));
            }

            before = (await recorder.WaitForLast(p => p is not null && Encoding.UTF8.GetString(p.Value) == "old39", "the last value before"))!.LastIndex;
        }

        await server.RestartWipedAsync();
        await using (var writer = await StoreFactory.Default.CreateAsync(options))
        {
            await writer.PutAsync("k", Encoding.UTF8.GetBytes("new1"));
            var after = (await recorder.WaitForLast(p => p is not null && Encoding.UTF8.GetString(p.Value) == "new1", "the first value of the rebuilt server"))!;
            Assert.True(after.LastIndex < before, "the rebuilt server's zxids are lower");
            await writer.PutAsync("k", Encoding.UTF8.GetBytes("new2"));
            await recorder.WaitForLast(p => p is not null && Encoding.UTF8.GetString(p.Value) == "new2", "a later value of the rebuilt server");
        }

        Assert.Equal("new2", Encoding.UTF8.GetString((await watcher.GetAsync("k")).Value));
    }

    // Items 11 and 12 on a real ensemble: the member a store talks to is paused (SIGSTOP).
    [Fact]
    public async Task On_an_ensemble_a_paused_member_is_left_for_another_its_watch_resumes_and_a_lock_is_never_held_twice()
    {
        var ensemble = await ZooKeeperServer.StartEnsembleAsync(3);
        try
        {
            var root = "t/" + Guid.NewGuid().ToString("N");
            var all = string.Join(",", ensemble.Select(s => s.Endpoint));
            var others = string.Join(",", ensemble.Skip(1).Select(s => s.Endpoint));
            StoreOptions Options(string endpoints) => new() { Backend = "zookeeper", Endpoints = { endpoints }, Root = root, RequestTimeout = TimeSpan.FromSeconds(4) };
            await using var watcher = (ZooKeeperStore)await StoreFactory.Default.CreateAsync(Options(all));
            await using var writer = await StoreFactory.Default.CreateAsync(Options(others));
            await using var rival = await StoreFactory.Default.CreateAsync(Options(others));
            await writer.PutAsync("k", Encoding.UTF8.GetBytes("1"));
            using var recorder = new Recorder<KVPair?>(watcher.Watch("k"));
            await recorder.WaitForLast(p => p is not null && Encoding.UTF8.GetString(p.Value) == "1", "the first value");
            var ttl = new LockOptions { Ttl = TimeSpan.FromSeconds(2) };
            await using var holder = watcher.NewLock("job", ttl);
            var lost = await holder.LockAsync();
            long lostAt = 0;
            lost.Register(() => Interlocked.Exchange(ref lostAt, Stopwatch.GetTimestamp()));

            ensemble[0].Pause();
            await ZooKeeperFaultTests.Eventually(
                async () =>
                {
                    try
                    {
                        await writer.PutAsync("k", Encoding.UTF8.GetBytes("2"));
                        return true;
                    }
                    catch (KvException e) when (e.IsTransient)
                    {
                        return false;
                    }
                },
                "the writer to write through the other members");
            await recorder.WaitFor(items => items.Count > 0 && items[^1] is { } p && Encoding.UTF8.GetString(p.Value) == "2", "the change made while the watch's member was paused", ZooKeeperFaultTests.Deadline);

            // Whether the holder kept its session (it moved in time) or not, the lock is never held twice.
            await using var second = rival.NewLock("job", ttl);
            if (await second.TryLockAsync(TimeSpan.FromSeconds(15)))
            {
                var acquiredAt = Stopwatch.GetTimestamp();
                Assert.True(lost.IsCancellationRequested, "the holder still believed it held the lock when another client acquired it");
                Assert.True(Interlocked.Read(ref lostAt) < acquiredAt);
            }
            else
            {
                Assert.True(holder.IsHeld);
                Assert.False(lost.IsCancellationRequested);
            }
        }
        finally
        {
            foreach (var server in ensemble)
            {
                server.Resume();
                await server.DisposeAsync();
            }
        }
    }
}
