using System.Diagnostics;
using System.Text;
using Google.Protobuf;
using LibKv.Conformance;
using LibKv.Etcd.Grpc;
using LibKv.Etcd.Protocol;
using Xunit;

namespace LibKv.Etcd.Tests;

/// <summary>etcd-specific behaviour on the shared server: endpoints, start-up failures, the server's size limit, the error table.</summary>
public sealed class EtcdClientTests : IClassFixture<EtcdFixture>
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task CreateAsync_against_a_closed_port_fails_with_Unavailable_naming_the_endpoint()
    {
        var port = EtcdServer.FreePort();
        var options = new StoreOptions { Endpoints = { $"127.0.0.1:{port}" }, RequestTimeout = TimeSpan.FromSeconds(3) };
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", options));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains($"127.0.0.1:{port}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_endpoint_that_is_down_is_skipped_whichever_its_place()
    {
        var server = await EtcdFixture.SharedServerAsync();
        var down = $"127.0.0.1:{EtcdServer.FreePort()}";
        foreach (var endpoints in new[] { new[] { server.Endpoint, down }, new[] { down, server.Endpoint } })
        {
            var options = new StoreOptions { Root = "t/" + Guid.NewGuid().ToString("N"), RequestTimeout = TimeSpan.FromSeconds(5) };
            options.Endpoints.AddRange(endpoints);
            await using var store = await StoreFactory.Default.CreateAsync("etcd", options);
            await store.PutAsync("k", Bytes("v"));
            Assert.Equal("v", Encoding.UTF8.GetString((await store.GetAsync("k")).Value));
            using var recorder = new Recorder<KVPair?>(store.Watch("k"));
            await recorder.WaitFor(items => items.Count > 0 && items[^1] is not null, "the watch through the live endpoint");
        }
    }

    [Fact]
    public async Task Many_concurrent_calls_share_the_store_and_all_complete()
    {
        var server = await EtcdFixture.SharedServerAsync();
        await using var store = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") });
        await Task.WhenAll(Enumerable.Range(0, 50).Select(i => store.PutAsync($"k/{i}", Bytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture))).AsTask()));
        var reads = await Task.WhenAll(Enumerable.Range(0, 500).Select(i => store.GetAsync($"k/{i % 50}").AsTask()));
        for (var i = 0; i < reads.Length; i++)
        {
            Assert.Equal((i % 50).ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.UTF8.GetString(reads[i].Value));
        }

        Assert.Equal(50, (await store.ListAsync("k")).Count);
    }

    [Fact]
    public async Task Server_streaming_reads_every_message_and_the_final_status()
    {
        var server = await EtcdFixture.SharedServerAsync();
        await using var store = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint } });
        await using var call = await store.Connection.OpenServerStreamAsync(EtcdMethods.Snapshot, new SnapshotRequest(), SnapshotResponse.Parser, CancellationToken.None);
        long total = 0;
        SnapshotResponse? last = null;
        while (await call.ReadAsync(CancellationToken.None) is { } response)
        {
            total += response.Blob.Length;
            last = response;
        }

        Assert.True(total > 0);
        Assert.NotNull(last);
        Assert.Equal(0UL, last.RemainingBytes);
    }

    [Fact]
    public async Task Https_endpoints_are_NotSupported()
    {
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { "https://127.0.0.1:2379" } }));
        Assert.Equal(KvErrorCode.NotSupported, e.Code);
    }

    [Theory]
    [InlineData(1_800_000)]
    [InlineData(3_000_000)]
    public async Task A_request_over_etcds_limit_is_ValueTooLarge(int size)
    {
        var server = await EtcdFixture.SharedServerAsync();
        await using var store = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") });
        var request = new PutRequest { Key = store.Keys.Full("big"), Value = ByteString.CopyFrom(new byte[size]) };
        var e = await Assert.ThrowsAsync<KvException>(() => store.Connection.PutAsync(request, "big", CancellationToken.None));
        Assert.Equal(KvErrorCode.ValueTooLarge, e.Code);
        Assert.False(await store.ExistsAsync("big"));
    }

    [Fact]
    public async Task Lock_keys_live_under_the_root_and_are_hidden_from_it_and_from_an_enclosing_root()
    {
        var server = await EtcdFixture.SharedServerAsync();
        var outer = "t/" + Guid.NewGuid().ToString("N");
        var root = outer + "/n";
        await using var store = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await using var enclosing = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint }, Root = outer });
        using var tree = new Recorder<IReadOnlyList<KVPair>>(enclosing.WatchTree("n"));
        await tree.WaitFor(states => states.Count == 1, "the first snapshot of the enclosing tree");
        await using var locker = store.NewLock("a/b");
        await locker.LockAsync();
        var waiters = await store.Connection.RangeAsync(
            new RangeRequest { Key = ByteString.CopyFromUtf8(root + "/\u0001lock/"), RangeEnd = ByteString.CopyFromUtf8(root + "/\u0001lock0") },
            null,
            CancellationToken.None);
        var waiter = Assert.Single(waiters.Kvs);
        Assert.StartsWith(root + "/\u0001lock/a/b\u0001", waiter.Key.ToStringUtf8(), StringComparison.Ordinal);
        Assert.Equal((ulong)waiter.CreateRevision, locker.FencingToken);
        Assert.Equal("a/b", Assert.Single(await store.ListAsync("")).Key);

        // The enclosing Root sees the nested Root's user key, never its waiter key; with only the waiter left, nothing.
        Assert.Equal("n/a/b", Assert.Single(await enclosing.ListAsync("")).Key);
        await store.DeleteAsync("a/b");
        await Assert.ThrowsAsync<KvException>(async () => await store.ListAsync(""));
        var missing = await Assert.ThrowsAsync<KvException>(async () => await enclosing.ListAsync("n"));
        Assert.Equal(KvErrorCode.KeyNotFound, missing.Code);
        await Assert.ThrowsAsync<KvException>(async () => await enclosing.ListAsync(""));
        await locker.UnlockAsync();
        await enclosing.PutAsync("n/z", Encoding.UTF8.GetBytes("z"));
        var states = await tree.WaitFor(s => s[^1].Count == 1, "the enclosing tree to show n/z");

        // The waiter key's put and delete made no state of their own: each state differs from the one before.
        for (var i = 1; i < states.Count; i++)
        {
            Assert.NotEqual(string.Join(',', states[i - 1].Select(p => p.Key + "@" + p.LastIndex)), string.Join(',', states[i].Select(p => p.Key + "@" + p.LastIndex)));
        }

        Assert.All(states.SelectMany(s => s), p => Assert.DoesNotContain('\u0001', p.Key));
    }

    [Theory]
    [InlineData((int)GrpcStatusCode.Unavailable, "", KvErrorCode.Unavailable, true)]
    [InlineData((int)GrpcStatusCode.DeadlineExceeded, "", KvErrorCode.Unavailable, true)]
    [InlineData((int)GrpcStatusCode.PermissionDenied, "etcdserver: permission denied", KvErrorCode.Unauthorized, false)]
    [InlineData((int)GrpcStatusCode.Unauthenticated, "etcdserver: invalid auth token", KvErrorCode.Unauthorized, false)]
    [InlineData((int)GrpcStatusCode.InvalidArgument, "etcdserver: user name is empty", KvErrorCode.Unauthorized, false)]
    [InlineData((int)GrpcStatusCode.InvalidArgument, "etcdserver: request is too large", KvErrorCode.ValueTooLarge, false)]
    [InlineData((int)GrpcStatusCode.ResourceExhausted, "grpc: received message larger than max", KvErrorCode.ValueTooLarge, false)]
    [InlineData((int)GrpcStatusCode.Unimplemented, "", KvErrorCode.NotSupported, false)]
    public void The_error_table_maps_grpc_statuses(int status, string detail, KvErrorCode code, bool transient)
    {
        var e = EtcdErrors.ToKv(new GrpcException((GrpcStatusCode)status, detail, "127.0.0.1:1"), "k", "127.0.0.1:1");
        Assert.Equal(code, e.Code);
        Assert.Equal(transient, e.IsTransient);
    }
}

/// <summary>A dedicated etcd per test class, for tests that stop the server or compact it.</summary>
public class DedicatedEtcd : IAsyncLifetime
{
    public EtcdServer Server { get; private set; } = null!;

    protected virtual string[] Arguments => [];

    public async Task InitializeAsync() => Server = await EtcdServer.StartAsync(Arguments);

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>A dedicated etcd whose auth tokens expire after 2 s idle, for the auth tests.</summary>
public sealed class AuthEtcd : DedicatedEtcd
{
    protected override string[] Arguments => ["--auth-token-ttl 2"];
}

/// <summary>Outages and compaction: watches resume from their revision and deliver what changed meanwhile.</summary>
public sealed class EtcdOutageTests(DedicatedEtcd etcd) : IClassFixture<DedicatedEtcd>
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Text(KVPair? pair) => pair is null ? null : Encoding.UTF8.GetString(pair.Value);

    [Fact]
    public async Task A_killed_and_restarted_server_fails_calls_meanwhile_and_watches_resume_from_their_revision()
    {
        var server = etcd.Server;
        var root = "t/" + Guid.NewGuid().ToString("N");
        var options = new StoreOptions { Endpoints = { server.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(2), ConnectionTimeout = TimeSpan.FromSeconds(1) };
        await using var a = await EtcdStore.CreateAsync(options);
        await a.PutAsync("k", Bytes("v0"));
        await a.PutAsync("d/0", Bytes("0"));
        using var watch = new Recorder<KVPair?>(a.Watch("k"));
        using var tree = new Recorder<IReadOnlyList<KVPair>>(a.WatchTree("d"));
        var v0 = await watch.WaitForLast(p => Text(p) == "v0", "the first state");
        await tree.WaitForLast(l => l.Count == 1, "the first snapshot");
        using var raw = a.Hub.Add(a.Keys.Full("k"), ByteString.Empty, (long)v0!.LastIndex + 1);

        server.Kill();
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<KvException>(async () => await a.GetAsync("k"));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains(server.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < options.RequestTimeout + TimeSpan.FromSeconds(5), $"the call took {clock.Elapsed}");

        // Keep the watch stream down until a second client has changed things on the restarted server.
        a.Hub.Suspend();
        await server.RestartAsync();
        await using (var b = await EtcdStore.CreateAsync(options.Clone()))
        {
            await b.PutAsync("k", Bytes("v1"));
            await b.PutAsync("k", Bytes("v2"));
            await b.DeleteAsync("k");
            await b.PutAsync("k", Bytes("v3"));
            await b.PutAsync("d/1", Bytes("1"));
            await b.PutAsync("d/2", Bytes("2"));
        }

        a.Hub.Resume();
        var seen = new List<Event>();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while (seen.Count < 4)
            {
                var response = await raw.Reader.ReadAsync(cts.Token);
                seen.AddRange(response.Events);
            }
        }

        Assert.Equal(new[] { "v1", "v2", null, "v3" }, seen.Select(ev => ev.Type == Event.Types.EventType.Put ? ev.Kv.Value.ToStringUtf8() : null));
        await watch.WaitForLast(p => Text(p) == "v3", "the watch to deliver the last change made while it was reconnecting");
        await tree.WaitForLast(l => l.Select(p => p.Key).SequenceEqual(new[] { "d/0", "d/1", "d/2" }), "the tree watch to catch up");
        AssertOrdered(watch.Items);
        Assert.Null(watch.Error);
        Assert.Null(tree.Error);

        // And it goes on.
        await a.PutAsync("k", Bytes("v4"));
        await watch.WaitForLast(p => Text(p) == "v4", "a change after the restart");
    }

    [Fact]
    public async Task A_watch_behind_a_compaction_reads_again_and_continues()
    {
        var root = "t/" + Guid.NewGuid().ToString("N");
        var options = new StoreOptions { Endpoints = { etcd.Server.Endpoint }, Root = root };
        await using var a = await EtcdStore.CreateAsync(options);
        await using var b = await EtcdStore.CreateAsync(options);
        await a.PutAsync("k", Bytes("v0"));
        using var watch = new Recorder<KVPair?>(a.Watch("k"));
        using var tree = new Recorder<IReadOnlyList<KVPair>>(a.WatchTree(""));
        await watch.WaitForLast(p => Text(p) == "v0", "the first state");
        await tree.WaitForLast(l => l.Count == 1, "the first snapshot");

        a.Hub.Suspend();
        await b.PutAsync("k", Bytes("v1"));
        await b.PutAsync("k", Bytes("v2"));
        await b.PutAsync("other", Bytes("o"));
        var head = await b.Connection.RangeAsync(new RangeRequest { Key = b.Keys.Full("k") }, "k", CancellationToken.None);
        await b.Connection.CallAsync(EtcdMethods.Compact, new CompactionRequest { Revision = head.Header.Revision, Physical = true }, CompactionResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
        a.Hub.Resume();

        await watch.WaitForLast(p => Text(p) == "v2", "the watch to re-read after compaction");
        await tree.WaitForLast(l => l.Count == 2, "the tree watch to re-read after compaction");
        await b.PutAsync("k", Bytes("v3"));
        await watch.WaitForLast(p => Text(p) == "v3", "the watch to continue after compaction");
        await tree.WaitForLast(l => l.Count == 2 && Text(l[0]) == "v3", "the tree watch to continue after compaction");
        AssertOrdered(watch.Items);
        Assert.Null(watch.Error);
    }

    [Fact]
    public async Task A_watch_notices_a_revision_that_went_backwards_delivers_the_current_state_and_orders_from_there()
    {
        var server = etcd.Server;
        var options = new StoreOptions { Endpoints = { server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N"), RequestTimeout = TimeSpan.FromSeconds(2) };
        await using var a = await EtcdStore.CreateAsync(options);
        for (var i = 1; i <= 8; i++)
        {
            await a.PutAsync("k", Bytes("v" + i));
            await a.PutAsync("d/x", Bytes("x" + i));
        }

        using var watch = new Recorder<KVPair?>(a.Watch("k"));
        using var tree = new Recorder<IReadOnlyList<KVPair>>(a.WatchTree("d"));
        await watch.WaitFor(items => items.Count > 0 && Text(items[^1]) == "v8", "the first state");
        await tree.WaitFor(items => items.Count > 0 && items[^1].Count == 1, "the first snapshot");
        var before = watch.Items[^1]!.LastIndex;

        // etcd loses its data (as a restore of an old backup or a rebuilt member would): revisions start again at 1.
        await server.WipeAndRestartAsync();
        await using var b = await EtcdStore.CreateAsync(options);
        await b.PutAsync("k", Bytes("w1"));
        await watch.WaitFor(items => Text(items[^1]) == "w1", "the state after the reset", TimeSpan.FromSeconds(30));
        Assert.True(watch.Items[^1]!.LastIndex < before, "the new state has the lower revision of the new history");
        await b.PutAsync("k", Bytes("w2"));
        await watch.WaitFor(items => Text(items[^1]) == "w2", "the next state, ordered from the reset", TimeSpan.FromSeconds(10));
        await tree.WaitFor(items => items[^1].Count == 0, "the emptied tree", TimeSpan.FromSeconds(10));
        await b.PutAsync("d/y", Bytes("y"));
        await tree.WaitFor(items => items[^1].Count == 1 && items[^1][0].Key == "d/y", "the tree after the reset", TimeSpan.FromSeconds(10));
        Assert.Null(watch.Error);
        Assert.Null(tree.Error);
    }

    [Fact]
    public async Task A_hold_whose_lease_cannot_be_renewed_is_lost_and_the_store_recovers()
    {
        var server = etcd.Server;
        var options = new StoreOptions { Endpoints = { server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N"), RequestTimeout = TimeSpan.FromSeconds(2) };
        await using var a = await StoreFactory.Default.CreateAsync("etcd", options);
        await using var locker = a.NewLock("lock", new LockOptions { Ttl = TimeSpan.FromSeconds(2) });
        var lost = await locker.LockAsync();
        var fencing = locker.FencingToken;
        server.Kill();
        try
        {
            var clock = Stopwatch.StartNew();
            while (!lost.IsCancellationRequested && clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(50);
            }

            Assert.True(lost.IsCancellationRequested, "the hold must be lost when its lease cannot be renewed");
            Assert.False(locker.IsHeld);
        }
        finally
        {
            await server.RestartAsync();
        }

        // The store works again, and the next hold gets a new lease and a higher fencing token.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await locker.LockAsync(cts.Token);
        Assert.True(locker.FencingToken > fencing);
        await locker.UnlockAsync();
    }

    private static void AssertOrdered(IReadOnlyList<KVPair?> items)
    {
        ulong last = 0;
        foreach (var item in items.OfType<KVPair>())
        {
            Assert.True(item.LastIndex > last, "LastIndex must strictly increase");
            last = item.LastIndex;
        }
    }
}

/// <summary>Authentication: a dedicated server with auth enabled (user root).</summary>
public sealed class EtcdAuthTests(AuthEtcd etcd) : IClassFixture<AuthEtcd>
{
    private const string Password = "s3cret";
    private static readonly SemaphoreSlim s_enable = new(1, 1);
    private static bool s_enabled;

    [Fact]
    public async Task Without_credentials_calls_are_Unauthorized_and_with_them_everything_works()
    {
        await EnableAuthAsync();
        var endpoint = etcd.Server.Endpoint;

        var anonymous = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { endpoint } }));
        Assert.Equal(KvErrorCode.Unauthorized, anonymous.Code);
        Assert.False(anonymous.IsTransient);

        var wrong = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { endpoint }, Username = "root", Password = "nope" }));
        Assert.Equal(KvErrorCode.Unauthorized, wrong.Code);

        var options = new StoreOptions { Endpoints = { endpoint }, Username = "root", Password = Password, Root = "t/auth" };
        await using var store = await StoreFactory.Default.CreateAsync("etcd", options);
        await store.PutAsync("k", Encoding.UTF8.GetBytes("v"), new WriteOptions { Ttl = TimeSpan.FromSeconds(30), KeepAlive = true });
        Assert.Equal("v", Encoding.UTF8.GetString((await store.GetAsync("k")).Value));
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        await watch.WaitForLast(p => p is not null, "the watch with a token");
        await store.PutAsync("k", Encoding.UTF8.GetBytes("w"));
        await watch.WaitForLast(p => p is not null && Encoding.UTF8.GetString(p.Value) == "w", "a change seen by the authenticated watch");
        await using var locker = store.NewLock("lock");
        await locker.LockAsync();
        Assert.True(locker.IsHeld);
        await locker.UnlockAsync();
    }

    [Fact]
    public async Task An_expired_token_is_renewed_without_the_caller_noticing()
    {
        await EnableAuthAsync();
        var log = new CapturingLoggerFactory();
        var options = new StoreOptions { Endpoints = { etcd.Server.Endpoint }, Username = "root", Password = Password, Root = "t/expiry", LoggerFactory = log };
        await using var store = await StoreFactory.Default.CreateAsync("etcd", options);
        await store.PutAsync("k", Encoding.UTF8.GetBytes("1"));

        // The server forgets a simple token after --auth-token-ttl (2 s) without use.
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        await store.PutAsync("k", Encoding.UTF8.GetBytes("2"));
        Assert.Equal("2", Encoding.UTF8.GetString((await store.GetAsync("k")).Value));
        Assert.True(log.Messages.Count(m => m.StartsWith("etcd authenticated as root", StringComparison.Ordinal)) >= 2, "the store should have authenticated again");
    }

    [Fact]
    public async Task Concurrent_calls_with_an_expired_token_authenticate_once()
    {
        await EnableAuthAsync();
        var log = new CapturingLoggerFactory();
        var options = new StoreOptions { Endpoints = { etcd.Server.Endpoint }, Username = "root", Password = Password, Root = "t/expiry-concurrent", LoggerFactory = log };
        await using var store = await StoreFactory.Default.CreateAsync("etcd", options);
        await store.PutAsync("k", Encoding.UTF8.GetBytes("1"));

        // The server forgets a simple token after --auth-token-ttl (2 s) without use.
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        using var start = new ManualResetEventSlim();
        var readers = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            return await store.GetAsync("k");
        })).ToArray();
        start.Set();
        Assert.All(await Task.WhenAll(readers), p => Assert.Equal("1", Encoding.UTF8.GetString(p.Value)));
        Assert.Equal(2, log.Messages.Count(m => m.StartsWith("etcd authenticated as root", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_watch_added_after_the_token_expired_works_on_the_existing_stream()
    {
        await EnableAuthAsync();
        var options = new StoreOptions { Endpoints = { etcd.Server.Endpoint }, Username = "root", Password = Password, Root = "t/expiry-watch" };
        await using var store = await StoreFactory.Default.CreateAsync("etcd", options);
        using var first = new Recorder<KVPair?>(store.Watch("a"));
        await first.WaitFor(items => items.Count > 0, "the first watch");

        // The watch stream carries the first token; etcd checks it again for every watch created on the stream.
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        using var second = new Recorder<KVPair?>(store.Watch("b"));
        await second.WaitFor(items => items.Count > 0, "the second watch");
        await store.PutAsync("b", Encoding.UTF8.GetBytes("1"));
        await store.PutAsync("a", Encoding.UTF8.GetBytes("1"));
        await second.WaitFor(items => items[^1] is not null, "a change seen by the watch created after the token expired");

        await first.WaitFor(items => items[^1] is not null, "a change seen by the first watch");
        Assert.Null(first.Error);
        Assert.Null(second.Error);
    }

    [Fact]
    public async Task A_lock_waiter_after_the_token_expired_gets_the_lock()
    {
        await EnableAuthAsync();
        var options = new StoreOptions { Endpoints = { etcd.Server.Endpoint }, Username = "root", Password = Password, Root = "t/expiry-lock" };
        await using var store = await EtcdStore.CreateAsync(options);
        using var opened = new Recorder<KVPair?>(store.Watch("a"));
        await opened.WaitFor(items => items.Count > 0, "a watch, which opens the stream with the first token");
        await using var holder = store.NewLock("lock");
        await holder.LockAsync();

        await Task.Delay(TimeSpan.FromSeconds(3.5));
        await using var waiter = store.NewLock("lock");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var waiting = waiter.LockAsync(cts.Token).AsTask();
        var prefix = options.Root + "/\u0001lock/lock\u0001";
        var clock = Stopwatch.StartNew();
        while ((await store.Connection.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(prefix), RangeEnd = ByteString.CopyFromUtf8(prefix[..^1] + "\u0002"), CountOnly = true }, null, CancellationToken.None)).Count < 2)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "the waiter key did not appear");
            await Task.Delay(20);
        }

        // Past its waiter key the waiter reads its predecessor and watches it: give that watch time to be created.
        await Task.Delay(500);
        await holder.UnlockAsync();
        await waiting;
        Assert.True(waiter.IsHeld);
    }

    private async Task EnableAuthAsync()
    {
        await s_enable.WaitAsync();
        try
        {
            if (!s_enabled)
            {
                await EnableAuthCoreAsync();
                s_enabled = true;
            }
        }
        finally
        {
            s_enable.Release();
        }
    }

    private async Task EnableAuthCoreAsync()
    {
        await using var admin = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { etcd.Server.Endpoint } });
        var c = admin.Connection;
        await c.CallAsync(EtcdMethods.RoleAdd, new AuthRoleAddRequest { Name = "root" }, AuthRoleAddResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
        await c.CallAsync(EtcdMethods.UserAdd, new AuthUserAddRequest { Name = "root", Password = Password }, AuthUserAddResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
        await c.CallAsync(EtcdMethods.UserGrantRole, new AuthUserGrantRoleRequest { User = "root", Role = "root" }, AuthUserGrantRoleResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
        await c.CallAsync(EtcdMethods.AuthEnable, new AuthEnableRequest(), AuthEnableResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
    }
}
