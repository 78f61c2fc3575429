using System.Diagnostics;
using System.Text;
using Google.Protobuf;
using LibKv.Conformance;
using Xunit;

namespace LibKv.Etcd.Tests;

/// <summary>Faults of one member of a real 3-member cluster: a paused (SIGSTOP) member must not stall streams.</summary>
public sealed class EtcdClusterTests(EtcdClusterFixture fixture) : IClassFixture<EtcdClusterFixture>
{
    private static readonly TimeSpan s_requestTimeout = TimeSpan.FromSeconds(2);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Text(KVPair? pair) => pair is null ? null : Encoding.UTF8.GetString(pair.Value);

    [Fact]
    public async Task A_watch_on_a_paused_member_moves_to_another_member_and_delivers_the_next_change()
    {
        var cluster = fixture.Cluster;
        var paused = cluster.Members[0];
        var root = "t/" + Guid.NewGuid().ToString("N");

        // The paused member comes first, so the store's streams open on it.
        await using var store = await EtcdStore.CreateAsync(Options(root, cluster.Endpoints));
        await using var writer = await EtcdStore.CreateAsync(Options(root, cluster.Members.Skip(1).Select(m => m.Endpoint), TimeSpan.FromSeconds(5)));
        await writer.PutAsync("k", Bytes("v1"));
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        await watch.WaitFor(items => items.Count > 0 && Text(items[^1]) == "v1", "the first state");
        await EventuallyAsync(() => Task.FromResult(store.Hub.StreamEndpoint is not null), "the watch stream");
        Assert.Equal(paused.Endpoint, store.Hub.StreamEndpoint);

        paused.Signal("STOP");
        try
        {
            await PutEventuallyAsync(writer, "k", "v2");

            // Detection takes about RequestTimeout; the HTTP/2 keep-alive pings alone would take 15 s or more.
            await watch.WaitFor(items => Text(items[^1]) == "v2", "the change made while the watch's member is paused", TimeSpan.FromSeconds(10));
            Assert.NotEqual(paused.Endpoint, store.Hub.StreamEndpoint);

            await PutEventuallyAsync(writer, "k", "v3");
            await watch.WaitFor(items => Text(items[^1]) == "v3", "a later change on the new member", TimeSpan.FromSeconds(10));
            Assert.Null(watch.Error);
        }
        finally
        {
            paused.Signal("CONT");
        }
    }

    [Fact]
    public async Task A_lock_waiter_whose_member_is_paused_acquires_when_the_holder_unlocks()
    {
        var cluster = fixture.Cluster;
        var paused = cluster.Members[0];
        var root = "t/" + Guid.NewGuid().ToString("N");
        await using var holderStore = await EtcdStore.CreateAsync(Options(root, cluster.Members.Skip(1).Select(m => m.Endpoint), TimeSpan.FromSeconds(5)));
        await using var waiterStore = await EtcdStore.CreateAsync(Options(root, cluster.Endpoints));
        // A TTL longer than the bound: the waiter must not get there by losing its lease and starting over on another member.
        var lockOptions = new LockOptions { Ttl = TimeSpan.FromSeconds(20) };
        await using var holder = holderStore.NewLock("lock", lockOptions);
        await holder.LockAsync();
        await using var waiter = waiterStore.NewLock("lock", lockOptions);
        var waiting = waiter.LockAsync().AsTask();
        await EventuallyAsync(async () => (await WaitersAsync(holderStore, root)).Count == 2 && waiterStore.Hub.StreamEndpoint is not null, "the waiter's key and watch");
        Assert.Equal(paused.Endpoint, waiterStore.Hub.StreamEndpoint);

        paused.Signal("STOP");
        try
        {
            await holder.UnlockAsync();
            var done = await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(10)));
            Assert.True(done == waiting, $"the waiter did not acquire within 10 s of the unlock while its member was paused");
            await waiting;
            Assert.True(waiter.IsHeld);
            Assert.True(waiter.FencingToken > 0);
        }
        finally
        {
            paused.Signal("CONT");
        }
    }

    internal static StoreOptions Options(string root, IEnumerable<string> endpoints, TimeSpan? requestTimeout = null)
    {
        var options = new StoreOptions { Root = root, RequestTimeout = requestTimeout ?? s_requestTimeout };
        options.Endpoints.AddRange(endpoints);
        return options;
    }

    /// <summary>Writes through the other members; while they elect a new leader a write may fail (OutcomeUnknown), so it is written again.</summary>
    internal static async Task PutEventuallyAsync(IStore store, string key, string value)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await store.PutAsync(key, Bytes(value));
                return;
            }
            catch (KvException e) when (e.IsTransient && clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task<IList<Protocol.KeyValue>> WaitersAsync(EtcdStore store, string root)
    {
        var all = await store.Connection.RangeAsync(new Protocol.RangeRequest { Key = ByteString.CopyFromUtf8(root + "/\u0001lock/"), RangeEnd = ByteString.CopyFromUtf8(root + "/\u0001lock0") }, null, CancellationToken.None);
        return all.Kvs;
    }

    internal static async Task EventuallyAsync(Func<Task<bool>> condition, string what, TimeSpan? deadline = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < (deadline ?? TimeSpan.FromSeconds(20)), "timed out waiting for " + what);
            await Task.Delay(50);
        }
    }
}

/// <summary>Writes whose answer never came: OutcomeUnknown, never resent to another member.</summary>
public sealed class EtcdOutcomeTests(EtcdClusterFixture fixture) : IClassFixture<EtcdClusterFixture>
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task Writes_sent_to_a_paused_member_fail_with_OutcomeUnknown_and_are_not_resent_to_the_others()
    {
        var cluster = fixture.Cluster;
        var paused = cluster.Members[0];
        var root = "t/" + Guid.NewGuid().ToString("N");
        await using var observer = await EtcdStore.CreateAsync(EtcdClusterTests.Options(root, cluster.Members.Skip(1).Select(m => m.Endpoint), TimeSpan.FromSeconds(10)));
        await observer.PutAsync("del", Bytes("x"));
        await observer.PutAsync("tree/a", Bytes("x"));
        var cas = await observer.AtomicPutAsync("cas", Bytes("1"), null);
        var writes = new (string Name, Func<IStore, Task> Write)[]
        {
            ("Put", s => s.PutAsync("put", Bytes("v")).AsTask()),
            ("AtomicPut", s => s.AtomicPutAsync("cas", Bytes("2"), cas).AsTask()),
            ("Delete", s => s.DeleteAsync("del").AsTask()),
            ("DeleteTree", s => s.DeleteTreeAsync("tree").AsTask()),
            ("AtomicDelete", s => s.AtomicDeleteAsync("cas", cas).AsTask()),
        };

        // Each store has the paused member first: its calls go there.
        var stores = new List<EtcdStore>();
        foreach (var _ in writes)
        {
            stores.Add(await EtcdStore.CreateAsync(EtcdClusterTests.Options(root, cluster.Endpoints)));
        }

        try
        {
            paused.Signal("STOP");
            try
            {
                await Task.WhenAll(writes.Select(async (w, i) =>
                {
                    var e = await Assert.ThrowsAsync<KvException>(() => w.Write(stores[i]));
                    Assert.True(e.OutcomeUnknown, $"{w.Name}: {e.Message}");
                    Assert.Equal(KvErrorCode.Unavailable, e.Code);
                    Assert.True(e.IsTransient);
                }));

                // None of them reached the other members: LibKv did not resend them.
                Assert.False(await observer.ExistsAsync("put"));
                Assert.Equal("1", Encoding.UTF8.GetString((await observer.GetAsync("cas")).Value));
                Assert.True(await observer.ExistsAsync("del"));
                Assert.True(await observer.ExistsAsync("tree/a"));
            }
            finally
            {
                paused.Signal("CONT");
            }
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_write_that_could_not_be_sent_is_not_OutcomeUnknown()
    {
        var cluster = fixture.Cluster;
        var proxy = new TcpProxy(cluster.Members[1].ClientPort);
        await using var store = await EtcdStore.CreateAsync(EtcdClusterTests.Options("t/" + Guid.NewGuid().ToString("N"), [proxy.Endpoint]));
        await store.PutAsync("k", Bytes("v"));

        // The listener goes: connections are refused, so nothing can be sent.
        await proxy.DisposeAsync();
        await Assert.ThrowsAsync<KvException>(async () => await store.GetAsync("k"));
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("k", Bytes("w")));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.False(e.OutcomeUnknown, e.Message);
    }
}
