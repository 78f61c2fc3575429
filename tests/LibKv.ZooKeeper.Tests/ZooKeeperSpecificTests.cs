using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using LibKv.Conformance;
using LibKv.ZooKeeper.Jute;
using Xunit;

namespace LibKv.ZooKeeper.Tests;

/// <summary>What only the ZooKeeper backend has: digest ACLs, session expiry, reconnect, pipelining, the tree mapping.</summary>
public sealed class ZooKeeperSpecificTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(byte[] value) => Encoding.UTF8.GetString(value);

    private static async Task<ZooKeeperStore> OpenAsync(string endpoint, string root, Action<StoreOptions>? configure = null)
    {
        var options = new StoreOptions { Backend = "zk", Endpoints = { endpoint }, Root = root, SessionTimeout = TimeSpan.FromSeconds(4) };
        configure?.Invoke(options);
        return (ZooKeeperStore)await StoreFactory.Default.CreateAsync(options);
    }

    private static string NewRoot() => "t/" + Guid.NewGuid().ToString("N");

    private static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var until = DateTime.UtcNow + Deadline;
        while (!await condition())
        {
            if (DateTime.UtcNow > until)
            {
                Assert.Fail("Timed out waiting for: " + what);
            }

            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task The_factory_knows_zookeeper_and_zk()
    {
        Assert.Contains("zookeeper", StoreFactory.Default.Backends);
        Assert.True(StoreFactory.Default.IsKnown("zk"));
        var server = await ZooKeeperServer.Shared;
        await using var store = await OpenAsync(server.Endpoint, NewRoot());
        Assert.Equal("zookeeper", store.Backend);
    }

    [Fact]
    public async Task CreateAsync_against_a_closed_port_is_Unavailable_and_transient()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(new StoreOptions
        {
            Backend = "zookeeper",
            Endpoints = { $"127.0.0.1:{port}" },
            ConnectionTimeout = TimeSpan.FromSeconds(2),
        }));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains($"127.0.0.1:{port}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connect_string_of_several_hosts_skips_a_dead_one()
    {
        var server = await ZooKeeperServer.Shared;
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        await using var store = await OpenAsync($"127.0.0.1:{port},{server.Endpoint}", NewRoot());
        await store.PutAsync("k", Bytes("v"));
        Assert.Equal("v", Text((await store.GetAsync("k")).Value));
    }

    [Fact]
    public async Task Digest_credentials_guard_the_store_and_wrong_ones_are_Unauthorized()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var owner = await OpenAsync(server.Endpoint, root, o => { o.Username = "alice"; o.Password = "secret"; });
        await owner.PutAsync("app/config", Bytes("c"));
        await using var same = await OpenAsync(server.Endpoint, root, o => { o.Username = "alice"; o.Password = "secret"; });
        Assert.Equal("c", Text((await same.GetAsync("app/config")).Value));

        await using var intruder = await OpenAsync(server.Endpoint, root, o => { o.Username = "alice"; o.Password = "wrong"; });
        var read = await Assert.ThrowsAsync<KvException>(async () => await intruder.GetAsync("app/config"));
        Assert.Equal(KvErrorCode.Unauthorized, read.Code);
        Assert.False(read.IsTransient);
        var write = await Assert.ThrowsAsync<KvException>(async () => await intruder.PutAsync("app/other", Bytes("x")));
        Assert.Equal(KvErrorCode.Unauthorized, write.Code);

        await using var anonymous = await OpenAsync(server.Endpoint, root);
        Assert.Equal(KvErrorCode.Unauthorized, (await Assert.ThrowsAsync<KvException>(async () => await anonymous.ListAsync(""))).Code);
        Assert.Equal("c", Text((await owner.GetAsync("app/config")).Value));
    }

    [Fact]
    public async Task Session_expiry_fires_lost_tokens_writes_keep_alive_keys_again_and_the_store_recovers()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var store = await OpenAsync(server.Endpoint, root);
        await using var observer = await OpenAsync(server.Endpoint, root);
        await store.PutAsync("svc/a", Bytes("a"), new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true });
        var before = await observer.GetAsync("svc/a");
        await using var locker = store.NewLock("locks/x");
        var lost = await locker.LockAsync();
        var session = store.Client.SessionId;

        await ZooKeeperFixture.ExpireAsync(store);

        Assert.NotEqual(session, store.Client.SessionId);
        await Eventually(() => Task.FromResult(lost.IsCancellationRequested), "the lost token to fire");
        Assert.False(locker.IsHeld);
        await Eventually(
            async () => await observer.ExistsAsync("svc/a") && (await observer.GetAsync("svc/a")).LastIndex != before.LastIndex,
            "the keep-alive key to be written again on the new session");
        var node = await observer.Client.GetDataAsync(observer.Paths.PathOf("svc/a"), CancellationToken.None);
        Assert.Equal(store.Client.SessionId, node.Stat.EphemeralOwner);
        await store.PutAsync("svc/b", Bytes("b"), new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true });
        Assert.True(await observer.ExistsAsync("svc/b"));
        await locker.LockAsync();
        Assert.True(locker.IsHeld);
    }

    [Fact]
    public async Task Two_hundred_requests_in_flight_on_one_connection_are_answered_in_order()
    {
        var server = await ZooKeeperServer.Shared;
        await using var store = await OpenAsync(server.Endpoint, NewRoot());
        await store.PutAsync("seed", Bytes("s"));
        var dir = store.Paths.RootPath;
        var creates = Enumerable.Range(0, 200)
            .Select(i => store.Client.CreateAsync($"{dir}/n{i:D3}", Bytes($"v{i}"), Acl.OpenUnsafe, CreateMode.Persistent, 0, CancellationToken.None))
            .ToArray();
        var created = await Task.WhenAll(creates);
        for (var i = 1; i < created.Length; i++)
        {
            Assert.True(created[i].Stat.Czxid > created[i - 1].Stat.Czxid, "replies out of order");
            Assert.Equal($"{dir}/n{i:D3}", created[i].Path);
        }

        var reads = Enumerable.Range(0, 200).Select(i => store.Client.GetDataAsync($"{dir}/n{i:D3}", CancellationToken.None)).ToArray();
        var data = await Task.WhenAll(reads);
        for (var i = 0; i < data.Length; i++)
        {
            Assert.Equal($"v{i}", Text(data[i].Data!));
        }

        var listed = await store.ListAsync("");
        Assert.Equal(201, listed.Count);
    }

    [Fact]
    public async Task Hidden_parents_are_apart_from_empty_values_and_cleaned_up()
    {
        var server = await ZooKeeperServer.Shared;
        await using var store = await OpenAsync(server.Endpoint, NewRoot());
        await store.PutAsync("a/b/c", Bytes("c"));
        Assert.False(await store.ExistsAsync("a/b"));
        Assert.Equal(KvErrorCode.KeyNotFound, (await Assert.ThrowsAsync<KvException>(async () => await store.GetAsync("a"))).Code);

        await store.PutAsync("a", Array.Empty<byte>());
        Assert.Empty((await store.GetAsync("a")).Value);
        Assert.Equal(new[] { "a/b/c" }, (await store.ListAsync("a")).Select(p => p.Key));

        await store.DeleteAsync("a");
        Assert.False(await store.ExistsAsync("a"));
        Assert.True(await store.ExistsAsync("a/b/c"));

        await store.DeleteAsync("a/b/c");
        Assert.Null(await store.Client.ExistsAsync(store.Paths.PathOf("a"), CancellationToken.None));
        Assert.Equal(KvErrorCode.KeyNotFound, (await Assert.ThrowsAsync<KvException>(async () => await store.ListAsync(""))).Code);
    }

    [Fact]
    public async Task Keys_with_characters_ZooKeeper_refuses_round_trip()
    {
        var server = await ZooKeeperServer.Shared;
        await using var store = await OpenAsync(server.Endpoint, NewRoot());
        var keys = new[] { "emoji/\U0001F600", "percent/50%", "nel/a\u0085b", "private/\uE000", "plain/%locks" };
        foreach (var k in keys)
        {
            await store.PutAsync(k, Bytes(k));
        }

        Assert.Equal(keys.Order(StringComparer.Ordinal), (await store.ListAsync("")).Select(p => p.Key));
        foreach (var k in keys)
        {
            Assert.Equal(k, Text((await store.GetAsync(k)).Value));
        }
    }

    [Fact]
    public async Task A_key_under_a_keep_alive_key_is_NotSupported()
    {
        var server = await ZooKeeperServer.Shared;
        await using var store = await OpenAsync(server.Endpoint, NewRoot());
        await store.PutAsync("svc", Bytes("s"), new WriteOptions { Ttl = TimeSpan.FromSeconds(5), KeepAlive = true });
        Assert.Equal(KvErrorCode.NotSupported, (await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("svc/child", Bytes("c")))).Code);
        await store.PutAsync("dir/child", Bytes("c"));
        Assert.Equal(KvErrorCode.NotSupported, (await Assert.ThrowsAsync<KvException>(async () =>
            await store.PutAsync("dir", Bytes("d"), new WriteOptions { Ttl = TimeSpan.FromSeconds(5), KeepAlive = true }))).Code);
    }

    [Fact]
    public async Task Ttl_keys_are_NotSupported_where_the_server_disables_extended_types()
    {
        await using var server = await ZooKeeperServer.StartAsync(extendedTypes: false);
        await using var store = await OpenAsync(server.Endpoint, NewRoot());
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("k", Bytes("v"), new WriteOptions { Ttl = TimeSpan.FromSeconds(5) }));
        Assert.Equal(KvErrorCode.NotSupported, e.Code);
        Assert.Contains("zookeeper.extendedTypesEnabled", e.Message, StringComparison.Ordinal);
        Assert.False(await store.ExistsAsync("k"));
        await store.PutAsync("k", Bytes("v"), new WriteOptions { Ttl = TimeSpan.FromSeconds(5), KeepAlive = true });
        Assert.True(await store.ExistsAsync("k"));
    }

    [Fact]
    public async Task A_call_with_an_already_cancelled_token_sends_nothing()
    {
        var server = await ZooKeeperServer.Shared;
        await using var store = await OpenAsync(server.Endpoint, NewRoot());
        await store.PutAsync("k", Bytes("a"));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.PutAsync("k", Bytes("b"), null, cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.PutAsync("new", Bytes("b"), null, cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.DeleteAsync("k", cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.DeleteTreeAsync("k", cancelled.Token));
        await using var locker = store.NewLock("job");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await locker.LockAsync(cancelled.Token));

        Assert.Equal("a", Text((await store.GetAsync("k")).Value));
        Assert.False(await store.ExistsAsync("new"));
        Assert.Null(await store.Client.ExistsAsync(store.Paths.LockDirOf("job"), CancellationToken.None));

        // An unlock cancelled before it starts changes nothing; the real unlock then frees the lock.
        await locker.LockAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await locker.UnlockAsync(cancelled.Token));
        Assert.True(locker.IsHeld);
        await locker.UnlockAsync();
        await using var next = store.NewLock("job");
        Assert.True(await next.TryLockAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_request_timeout_beyond_what_timers_take_is_clamped()
    {
        var server = await ZooKeeperServer.Shared;
        await using var store = await OpenAsync(server.Endpoint, NewRoot(), o =>
        {
            o.RequestTimeout = TimeSpan.MaxValue;
            o.ConnectionTimeout = TimeSpan.MaxValue;
        });
        await store.PutAsync("a/b", Bytes("v"));
        Assert.Equal("v", Text((await store.GetAsync("a/b")).Value));
    }

    [Fact]
    public async Task A_call_of_several_requests_is_bounded_by_the_request_timeout_as_a_whole()
    {
        var server = await ZooKeeperServer.Shared;
        await using var proxy = new TcpProxy(server.Port);
        await using var store = await OpenAsync(proxy.Endpoint, NewRoot(), o =>
        {
            o.SessionTimeout = TimeSpan.FromSeconds(20);
            o.RequestTimeout = TimeSpan.FromSeconds(1);
        });
        await store.PutAsync("a/b/c/d/e", Bytes("v"));

        // Every request is answered within the timeout, but a call of several requests in sequence is not.
        proxy.ReplyDelay = TimeSpan.FromMilliseconds(400);
        foreach (var call in new Func<Task>[]
        {
            () => store.PutAsync("x/y/z", Bytes("v")).AsTask(),
            () => store.ListAsync("").AsTask(),
        })
        {
            var failed = await Assert.ThrowsAsync<KvException>(() => call().WaitAsync(Deadline));
            Assert.Equal(KvErrorCode.Unavailable, failed.Code);
            Assert.True(failed.IsTransient);
            Assert.Contains(proxy.Endpoint, failed.Message, StringComparison.Ordinal);
        }

        proxy.ReplyDelay = TimeSpan.Zero;
        Assert.Equal(new[] { "a/b/c/d/e" }, (await store.ListAsync("a")).Select(p => p.Key));
    }

    [Fact]
    public async Task A_lock_node_whose_create_reply_was_lost_is_removed_once_the_connection_recovers()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var slow = await OpenAsync(proxy.Endpoint, root, o =>
        {
            o.SessionTimeout = TimeSpan.FromSeconds(20);
            o.RequestTimeout = TimeSpan.FromSeconds(1);
        });
        await using var other = await OpenAsync(server.Endpoint, root);
        await using var holder = other.NewLock("job");
        await holder.LockAsync();
        var dir = other.Paths.LockDirOf("job");

        // The create reaches the server but its reply (and the cleanup's first reply, queued behind it) come too late;
        // the session lives on, so an orphan node would block the lock for good.
        proxy.ReplyDelay = TimeSpan.FromSeconds(3);
        await using var waiter = slow.NewLock("job");
        var failed = await Assert.ThrowsAsync<KvException>(async () => await waiter.LockAsync().AsTask().WaitAsync(Deadline));
        Assert.Equal(KvErrorCode.Unavailable, failed.Code);
        await Eventually(async () => (await other.Client.GetChildrenAsync(dir, CancellationToken.None)).Count == 2, "the waiter's node to exist");
        proxy.ReplyDelay = TimeSpan.Zero;

        await Eventually(async () => (await other.Client.GetChildrenAsync(dir, CancellationToken.None)).Count == 1, "the orphan node to be removed");
        Assert.True(slow.Client.IsConnected);
        await holder.UnlockAsync();
        await using var next = other.NewLock("job");
        Assert.True(await next.TryLockAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task An_unlock_that_fails_during_a_partition_still_frees_the_lock_once_the_session_reconnects()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var cut = await OpenAsync(proxy.Endpoint, root, o =>
        {
            o.SessionTimeout = TimeSpan.FromSeconds(30);
            o.RequestTimeout = TimeSpan.FromSeconds(1);
        });
        await using var other = await OpenAsync(server.Endpoint, root);
        await using var holder = cut.NewLock("job", new LockOptions { Ttl = TimeSpan.FromSeconds(20) });
        await holder.LockAsync();
        var session = cut.Client.SessionId;

        proxy.Block();
        var failed = await Assert.ThrowsAsync<KvException>(async () => await holder.UnlockAsync().AsTask().WaitAsync(Deadline));
        Assert.Equal(KvErrorCode.Unavailable, failed.Code);
        Assert.False(holder.IsHeld);
        proxy.Unblock();

        // The session survives the partition, so only the client can remove its lock node.
        await using var next = other.NewLock("job");
        Assert.True(await next.TryLockAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(session, cut.Client.SessionId);
    }

    [Fact]
    public async Task A_watch_survives_session_expiry_and_delivers_the_change_made_meanwhile()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var watcher = await OpenAsync(proxy.Endpoint, root, o => o.SessionTimeout = TimeSpan.FromSeconds(1));
        await using var writer = await OpenAsync(server.Endpoint, root);
        await writer.PutAsync("k", Bytes("1"));
        await watcher.PutAsync("alive", Bytes("x"), new WriteOptions { Ttl = TimeSpan.FromSeconds(1), KeepAlive = true });
        using var recorder = new Recorder<KVPair?>(watcher.Watch("k"));
        await recorder.WaitForLast(p => p is not null && Text(p.Value) == "1", "the first value");
        var session = watcher.Client.SessionId;

        proxy.Block();
        await writer.PutAsync("k", Bytes("2"));
        await Eventually(async () => !await writer.ExistsAsync("alive"), "the server to expire the cut-off session");
        proxy.Unblock();

        await recorder.WaitForLast(p => p is not null && Text(p.Value) == "2", "the change made while the session expired");
        Assert.NotEqual(session, watcher.Client.SessionId);
        await writer.PutAsync("k", Bytes("3"));
        await recorder.WaitForLast(p => p is not null && Text(p.Value) == "3", "a change in the new session");
        Assert.Null(recorder.Error);
    }

    [Fact]
    public async Task Disposing_a_subscription_removes_its_server_side_watch()
    {
        var server = await ZooKeeperServer.Shared;
        await using var store = await OpenAsync(server.Endpoint, NewRoot());
        await store.PutAsync("k", Bytes("v"));
        string[] paths = [store.Paths.PathOf("k"), store.Paths.PathOf("d")];
        async Task<int> WatchedAsync()
        {
            var lines = (await server.FourLetterAsync("wchp")).Split('\n', StringSplitOptions.TrimEntries);
            return paths.Count(p => lines.Contains(p));
        }

        var watch = store.Watch("k").Subscribe(_ => { });
        var tree = store.WatchTree("d").Subscribe(_ => { });
        await Eventually(async () => await WatchedAsync() == 2, "both watches on the server");

        watch.Dispose();
        tree.Dispose();
        await Eventually(async () => await WatchedAsync() == 0, "both watches removed from the server");
    }

    [Fact]
    public async Task A_watch_resumes_after_a_partition_and_delivers_the_change_made_meanwhile()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var watcher = await OpenAsync(proxy.Endpoint, root, o => o.SessionTimeout = TimeSpan.FromSeconds(10));
        await using var writer = await OpenAsync(server.Endpoint, root);
        await writer.PutAsync("k", Bytes("1"));
        using var recorder = new Recorder<KVPair?>(watcher.Watch("k"));
        using var tree = new Recorder<IReadOnlyList<KVPair>>(watcher.WatchTree(""));
        await recorder.WaitForLast(p => p is not null && Text(p.Value) == "1", "the first value");
        var session = watcher.Client.SessionId;

        proxy.Block();
        await Eventually(() => Task.FromResult(!watcher.Client.IsConnected), "the watcher to notice the cut");
        await writer.PutAsync("k", Bytes("2"));
        await writer.PutAsync("other", Bytes("o"));
        proxy.Unblock();

        await recorder.WaitForLast(p => p is not null && Text(p.Value) == "2", "the change made during the partition");
        await tree.WaitForLast(l => l.Count == 2, "the tree change made during the partition");
        Assert.Equal(session, watcher.Client.SessionId);
        Assert.Null(recorder.Error);
    }

    [Fact]
    public async Task A_cancelled_waiter_leaves_no_node_and_lock_nodes_stay_hidden()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var a = await OpenAsync(server.Endpoint, root);
        await using var b = await OpenAsync(server.Endpoint, root);
        await using var holder = a.NewLock("job");
        await holder.LockAsync();
        await using var waiter = b.NewLock("job");
        Assert.False(await waiter.TryLockAsync(TimeSpan.FromMilliseconds(300)));
        var nodes = await a.Client.GetChildrenAsync(a.Paths.LockDirOf("job"), CancellationToken.None);
        Assert.Single(nodes);
        Assert.Equal(new[] { "job" }, (await b.ListAsync("")).Select(p => p.Key));
        await holder.UnlockAsync();
        Assert.True(await waiter.TryLockAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_call_made_while_disconnected_waits_for_the_reconnect_or_fails_Unavailable()
    {
        var server = await ZooKeeperServer.Shared;
        await using var proxy = new TcpProxy(server.Port);
        await using var store = await OpenAsync(proxy.Endpoint, NewRoot(), o =>
        {
            o.SessionTimeout = TimeSpan.FromSeconds(20);
            o.RequestTimeout = TimeSpan.FromSeconds(3);
        });
        await store.PutAsync("k", Bytes("v"));

        proxy.Block();
        await Eventually(() => Task.FromResult(!store.Client.IsConnected), "the cut to be noticed");
        var failed = await Assert.ThrowsAsync<KvException>(async () => await store.GetAsync("k").AsTask().WaitAsync(Deadline));
        Assert.Equal(KvErrorCode.Unavailable, failed.Code);
        Assert.True(failed.IsTransient);
        Assert.Contains(proxy.Endpoint, failed.Message, StringComparison.Ordinal);

        var pending = store.GetAsync("k").AsTask();
        await Task.Delay(300);
        proxy.Unblock();
        Assert.Equal("v", Text((await pending.WaitAsync(Deadline)).Value));
    }

    [Fact]
    public async Task A_host_that_does_not_answer_cannot_use_up_the_session_before_the_next_host_is_tried()
    {
        var server = await ZooKeeperServer.Shared;
        await using var first = new TcpProxy(server.Port);
        await using var silent = new TcpProxy(server.Port) { Silent = true };
        await using var third = new TcpProxy(server.Port);
        await using var store = await OpenAsync($"{first.Endpoint},{silent.Endpoint},{third.Endpoint}", NewRoot(), o =>
        {
            o.SessionTimeout = TimeSpan.FromSeconds(3);
            o.ConnectionTimeout = TimeSpan.FromSeconds(10);
        });
        await using var locker = store.NewLock("job", new LockOptions { Ttl = TimeSpan.FromSeconds(2) });
        var lost = await locker.LockAsync();
        var session = store.Client.SessionId;

        first.Block();
        await Eventually(() => Task.FromResult(!store.Client.IsConnected), "the cut to be noticed");
        await Eventually(() => Task.FromResult(store.Client.IsConnected), "the store to reconnect through the third host");
        Assert.Equal(session, store.Client.SessionId);
        Assert.False(lost.IsCancellationRequested);
        Assert.True(locker.IsHeld);
    }

    [Fact]
    public async Task When_its_host_goes_the_session_moves_to_the_next_host_of_the_list()
    {
        var server = await ZooKeeperServer.Shared;
        await using var first = new TcpProxy(server.Port);
        await using var second = new TcpProxy(server.Port);
        await using var store = await OpenAsync($"{first.Endpoint},{second.Endpoint}", NewRoot(), o => o.SessionTimeout = TimeSpan.FromSeconds(20));
        await store.PutAsync("svc", Bytes("up"), new WriteOptions { Ttl = TimeSpan.FromSeconds(10), KeepAlive = true });
        var session = store.Client.SessionId;

        first.Block();
        await Eventually(
            async () =>
            {
                try
                {
                    await store.PutAsync("k", Bytes("v"));
                    return true;
                }
                catch (KvException e) when (e.IsTransient)
                {
                    return false;
                }
            },
            "the store to work through the second host");
        Assert.Equal(session, store.Client.SessionId);
        Assert.True(await store.ExistsAsync("svc"));
    }

    [Fact]
    public async Task A_lock_counts_as_lost_once_the_session_timeout_passes_without_a_connection()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var holderStore = await OpenAsync(proxy.Endpoint, root, o => o.SessionTimeout = TimeSpan.FromSeconds(2));
        await using var otherStore = await OpenAsync(server.Endpoint, root);
        await using var holder = holderStore.NewLock("job");
        var lost = await holder.LockAsync();
        var fencing = holder.FencingToken;
        await using var other = otherStore.NewLock("job");
        var waiting = other.LockAsync().AsTask();

        proxy.Block();
        await Eventually(() => Task.FromResult(lost.IsCancellationRequested), "the hold to count as lost");
        Assert.False(holder.IsHeld);
        await waiting.WaitAsync(Deadline);
        Assert.True(other.FencingToken > fencing);

        proxy.Unblock();
        await Eventually(
            async () =>
            {
                try
                {
                    await holderStore.PutAsync("after", Bytes("x"));
                    return true;
                }
                catch (KvException e) when (e.IsTransient)
                {
                    return false;
                }
            },
            "the holder's store to work again");
    }

    [Fact]
    public async Task A_keep_alive_ttl_shorter_than_the_session_allows_lives_on_its_own_session_with_default_options()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var store = (ZooKeeperStore)await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "zk", Endpoints = { server.Endpoint }, Root = root });
        await using var observer = await OpenAsync(server.Endpoint, root);
        Assert.Equal(TimeSpan.FromSeconds(10), store.Client.NegotiatedTimeout);

        // 2 × 1 s + 1 s = 3 s: the main 10 s session cannot be its lease, a 3 s session of its own can.
        await store.PutAsync("svc/a", Bytes("a"), new WriteOptions { Ttl = TimeSpan.FromSeconds(1), KeepAlive = true });
        await store.AtomicPutAsync("svc/b", Bytes("b"), null, new WriteOptions { Ttl = TimeSpan.FromSeconds(1.2), KeepAlive = true });
        await store.PutAsync("svc/c", Bytes("c"), new WriteOptions { Ttl = TimeSpan.FromSeconds(4.5), KeepAlive = true });
        var a = await store.Client.GetDataAsync(store.Paths.PathOf("svc/a"), CancellationToken.None);
        var b = await store.Client.GetDataAsync(store.Paths.PathOf("svc/b"), CancellationToken.None);
        var c = await store.Client.GetDataAsync(store.Paths.PathOf("svc/c"), CancellationToken.None);
        Assert.NotEqual(0, a.Stat.EphemeralOwner);
        Assert.NotEqual(store.Client.SessionId, a.Stat.EphemeralOwner);
        Assert.Equal(a.Stat.EphemeralOwner, b.Stat.EphemeralOwner);
        Assert.Equal(store.Client.SessionId, c.Stat.EphemeralOwner);
        var classSession = store.Sessions.All.Single(s => s.SessionId == a.Stat.EphemeralOwner);
        Assert.Equal(TimeSpan.FromSeconds(3), classSession.NegotiatedTimeout);
        Assert.Equal("a", Text((await observer.GetAsync("svc/a")).Value));

        // Disposing the store ends them all.
        await store.DisposeAsync();
        Assert.False(await observer.ExistsAsync("svc/a"));
        Assert.False(await observer.ExistsAsync("svc/b"));
        Assert.False(await observer.ExistsAsync("svc/c"));
    }

    [Fact]
    public async Task A_lock_ttl_shorter_than_the_session_allows_holds_on_its_own_session_with_default_options()
    {
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var store = (ZooKeeperStore)await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "zk", Endpoints = { server.Endpoint }, Root = root });
        await using var other = (ZooKeeperStore)await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "zk", Endpoints = { server.Endpoint }, Root = root });
        await using var locker = store.NewLock("job", new LockOptions { Ttl = TimeSpan.FromSeconds(2) });
        await locker.LockAsync();
        Assert.True(locker.IsHeld);
        var dir = store.Paths.LockDirOf("job");
        var node = Assert.Single(await store.Client.GetChildrenAsync(dir, CancellationToken.None));
        var owner = (await store.Client.GetDataAsync(dir + "/" + node, CancellationToken.None)).Stat.EphemeralOwner;
        Assert.NotEqual(store.Client.SessionId, owner);
        Assert.Equal(TimeSpan.FromSeconds(5), store.Sessions.All.Single(s => s.SessionId == owner).NegotiatedTimeout);

        await using var second = other.NewLock("job", new LockOptions { Ttl = TimeSpan.FromSeconds(1) });
        Assert.False(await second.TryLockAsync(TimeSpan.FromMilliseconds(300)));
        await locker.UnlockAsync();
        Assert.True(await second.TryLockAsync(Deadline));
        Assert.True(second.FencingToken > 0);
    }

    [Fact]
    public async Task A_ttl_whose_session_the_server_refuses_is_NotSupported_naming_minSessionTimeout_and_writes_nothing()
    {
        // minSessionTimeout = 4 s: a 1 s TTL needs a session of at most 3 s, which this server does not grant.
        await using var server = await ZooKeeperServer.StartAsync(minSessionTimeoutMs: 4000);
        await using var store = (ZooKeeperStore)await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "zk", Endpoints = { server.Endpoint }, Root = NewRoot() });
        var put = await Assert.ThrowsAsync<KvException>(async () =>
            await store.PutAsync("svc/a", Bytes("a"), new WriteOptions { Ttl = TimeSpan.FromSeconds(1), KeepAlive = true }));
        Assert.Equal(KvErrorCode.NotSupported, put.Code);
        Assert.False(put.IsTransient);
        Assert.Equal("svc/a", put.Key);
        Assert.Contains("keep-alive TTL 1s needs a ZooKeeper session timeout ≤ 3s", put.Message, StringComparison.Ordinal);
        Assert.Contains("minSessionTimeout", put.Message, StringComparison.Ordinal);
        Assert.Null(await store.Client.ExistsAsync(store.Paths.PathOf("svc"), CancellationToken.None));

        await using var locker = store.NewLock("job", new LockOptions { Ttl = TimeSpan.FromSeconds(1) });
        var lockError = await Assert.ThrowsAsync<KvException>(async () => await locker.LockAsync());
        Assert.Equal(KvErrorCode.NotSupported, lockError.Code);
        Assert.Contains("LockOptions.Ttl 1s", lockError.Message, StringComparison.Ordinal);
        Assert.Contains("minSessionTimeout", lockError.Message, StringComparison.Ordinal);
        Assert.False(await store.ExistsAsync("job"));

        // 2 × 1.5 s + 1 s = 4 s is what the server grants.
        await store.PutAsync("svc/b", Bytes("b"), new WriteOptions { Ttl = TimeSpan.FromSeconds(1.5), KeepAlive = true });
        Assert.True(await store.ExistsAsync("svc/b"));
    }

    [Fact]
    public async Task A_holder_cut_off_without_closing_its_session_frees_the_lock_within_twice_the_ttl_plus_a_second()
    {
        var ttl = TimeSpan.FromSeconds(1);
        var bound = (ttl * 2) + TimeSpan.FromSeconds(1);
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var holderStore = await OpenAsync(proxy.Endpoint, root, o => o.SessionTimeout = TimeSpan.FromSeconds(2));
        // Only the holder needs a short session; the waiter's default one does not drop on a loaded machine.
        await using var otherStore = await OpenAsync(server.Endpoint, root);
        await using var holder = holderStore.NewLock("job", new LockOptions { Ttl = ttl });
        await holder.LockAsync();
        var fencing = holder.FencingToken;
        await using var other = otherStore.NewLock("job", new LockOptions { Ttl = TimeSpan.FromSeconds(10) });
        var waiting = other.LockAsync().AsTask();

        // As a dead process: its connection closes, no closeSession is sent, and it never comes back.
        var cut = Stopwatch.StartNew();
        proxy.Block();
        await waiting.WaitAsync(Deadline);
        var freed = cut.Elapsed;
        Assert.True(other.IsHeld);
        Assert.True(other.FencingToken > fencing);

        // The server's expiry is rounded up to its tick, and the machine may be loaded: generous slack.
        Assert.True(freed < bound + TimeSpan.FromSeconds(5), $"the lock was freed {freed.TotalSeconds:0.0} s after the cut; the bound is {bound.TotalSeconds} s");
    }

    [Fact]
    public async Task A_keep_alive_key_of_a_store_cut_off_without_closing_its_session_goes_within_twice_the_ttl_plus_a_second()
    {
        var ttl = TimeSpan.FromSeconds(1);
        var bound = (ttl * 2) + TimeSpan.FromSeconds(1);
        var server = await ZooKeeperServer.Shared;
        var root = NewRoot();
        await using var proxy = new TcpProxy(server.Port);
        await using var service = await OpenAsync(proxy.Endpoint, root, o => o.SessionTimeout = TimeSpan.FromSeconds(2));
        await using var observer = await OpenAsync(server.Endpoint, root);
        await service.PutAsync("svc/web", Bytes("10.0.0.1:80"), new WriteOptions { Ttl = ttl, KeepAlive = true });
        Assert.True(await observer.ExistsAsync("svc/web"));

        var cut = Stopwatch.StartNew();
        proxy.Block();
        await Eventually(async () => !await observer.ExistsAsync("svc/web"), "the keep-alive key of the dead store to go");
        var gone = cut.Elapsed;
        Assert.True(gone < bound + TimeSpan.FromSeconds(5), $"the key went {gone.TotalSeconds:0.0} s after the cut; the bound is {bound.TotalSeconds} s");
    }

    [Fact]
    public async Task A_fenced_write_is_refused_by_the_server_when_the_owner_node_went_before_the_locker_noticed()
    {
        var server = await ZooKeeperServer.Shared;
        await using var store = (ZooKeeperStore)await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "zk", Endpoints = { server.Endpoint }, Root = NewRoot() });
        var writes = new (string What, string Key, Func<ILocker, KVPair?, ValueTask> Write)[]
        {
            ("Put", "data", (l, _) => store.PutAsync("data", Bytes("late"), new WriteOptions { IfHeld = l })),
            ("AtomicPut", "data", async (l, p) => await store.AtomicPutAsync("data", Bytes("late"), p, new WriteOptions { IfHeld = l })),
            ("AtomicPut create with a TTL", "created", async (l, _) => await store.AtomicPutAsync("created", Bytes("late"), null, new WriteOptions { IfHeld = l, Ttl = TimeSpan.FromSeconds(30) })),
            ("Put with a TTL", "data", (l, _) => store.PutAsync("data", Bytes("late"), new WriteOptions { IfHeld = l, Ttl = TimeSpan.FromSeconds(30) })),
        };

        // A lock TTL of 2 s puts the owner node on the lock's own session, apart from the store's main session.
        await using var locker = store.NewLock("job", new LockOptions { Ttl = TimeSpan.FromSeconds(2) });
        await locker.LockAsync();
        foreach (var (what, key, write) in writes)
        {
            // While held every kind of fenced write goes through (and its code paths are warm for the timing below).
            await store.PutAsync("data", Bytes("kept"));
            if (await store.ExistsAsync("created"))
            {
                await store.DeleteAsync("created");
            }

            await write(locker, await store.GetAsync("data"));
            Assert.True("late" == Text((await store.GetAsync(key)).Value), what);
        }

        await store.PutAsync("data", Bytes("kept"));
        foreach (var (what, key, write) in writes)
        {
            if (!locker.IsHeld)
            {
                await locker.LockAsync();
            }

            var previous = await store.GetAsync("data");
            var owner = ((ZooKeeperLocker)locker).Fence!.OwnerPath;
            Assert.NotEqual(store.Client.SessionId, (await store.Client.GetDataAsync(owner, CancellationToken.None)).Stat.EphemeralOwner);

            // The fenced write passes the local check and sends its read of the key; a raw delete of the owner node
            // follows on the same connection, so the server applies it before the write's multi, while the locker (on
            // its own session) has not heard of it: only the server's check of the owner node can refuse the write.
            var writing = write(locker, previous).AsTask();
            var delete = store.Client.DeleteAsync(owner, -1, CancellationToken.None);
            var e = await Assert.ThrowsAsync<KvException>(() => writing);
            await delete;
            Assert.Equal(KvErrorCode.LockNotHeld, e.Code);
            Assert.Contains("no longer held at the server", e.Message, StringComparison.Ordinal);
            Assert.Contains(key, e.Message, StringComparison.Ordinal);
            var after = await store.GetAsync("data");
            Assert.Equal("kept", Text(after.Value));
            Assert.Equal(previous.LastIndex, after.LastIndex);
            Assert.False(await store.ExistsAsync("created"), what);
            await Eventually(() => Task.FromResult(!locker.IsHeld), "the locker to notice its node went");
        }
    }
}

/// <summary>Tests that restart their own server, apart from the shared one.</summary>
public sealed class ZooKeeperRestartTests
{
    [Fact]
    public async Task A_watch_survives_a_server_restart_with_its_session()
    {
        await using var server = await ZooKeeperServer.StartAsync();
        var root = "t/" + Guid.NewGuid().ToString("N");
        var options = new StoreOptions { Backend = "zookeeper", Endpoints = { server.Endpoint }, Root = root, SessionTimeout = TimeSpan.FromSeconds(20) };
        await using var watcher = (ZooKeeperStore)await StoreFactory.Default.CreateAsync(options);
        await watcher.PutAsync("k", Encoding.UTF8.GetBytes("1"));
        using var recorder = new Recorder<KVPair?>(watcher.Watch("k"));
        await recorder.WaitForLast(p => p is not null && Encoding.UTF8.GetString(p.Value) == "1", "the first value");
        var session = watcher.Client.SessionId;

        await server.RestartAsync(TimeSpan.FromMilliseconds(500));
        await using (var writer = await StoreFactory.Default.CreateAsync(options))
        {
            await writer.PutAsync("k", Encoding.UTF8.GetBytes("2"));
        }

        await recorder.WaitForLast(p => p is not null && Encoding.UTF8.GetString(p.Value) == "2", "the change after the restart");
        Assert.Equal(session, watcher.Client.SessionId);
        Assert.Equal("2", Encoding.UTF8.GetString((await watcher.GetAsync("k")).Value));
    }
}
