using System.Diagnostics;
using System.Text;
using LibKv.Conformance;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>What only Consul has: endpoints, session_ttl_min, URL escaping, the transaction size limit.</summary>
public sealed class ConsulSpecificTests(ConsulFixture fixture) : KvTestBase(fixture), IClassFixture<ConsulFixture>
{
    [Fact]
    public void The_factory_knows_consul()
    {
        Assert.Contains("consul", StoreFactory.Default.Backends);
    }

    [Fact]
    public async Task CreateAsync_against_a_closed_port_is_Unavailable()
    {
        var endpoint = $"127.0.0.1:{ConsulServer.ClosedPort()}";
        var options = new StoreOptions { Backend = "consul", Endpoints = { endpoint }, RequestTimeout = TimeSpan.FromSeconds(3) };
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(options));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains(endpoint, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_endpoint_that_is_down_is_skipped()
    {
        var server = await ConsulServer.Shared;
        var down = $"127.0.0.1:{ConsulServer.ClosedPort()}";
        var store = await StoreAsync(o => o.Endpoints = new List<string> { down, server.Endpoint });
        await store.PutAsync("k", Bytes("v"));
        Assert.Equal("v", Text((await store.GetAsync("k")).Value));
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        await store.PutAsync("k", Bytes("w"));
        await watch.WaitForLast(p => p is not null && Text(p.Value) == "w", "the watch through the second endpoint");
    }

    [Fact]
    public async Task A_ttl_below_session_ttl_min_is_NotSupported_naming_the_setting()
    {
        var store = await StoreAsync();
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("k", Bytes("v"), new WriteOptions { Ttl = TimeSpan.FromMilliseconds(500) }));
        Assert.Equal(KvErrorCode.NotSupported, e.Code);
        Assert.Contains("session_ttl_min", e.Message, StringComparison.Ordinal);
        Assert.False(await store.ExistsAsync("k"));

        await using var locker = store.NewLock("lock", new LockOptions { Ttl = TimeSpan.FromMilliseconds(500) });
        var l = await Assert.ThrowsAsync<KvException>(async () => await locker.LockAsync());
        Assert.Equal(KvErrorCode.NotSupported, l.Code);
        Assert.False(locker.IsHeld);
    }

    [Fact]
    public async Task Keys_with_url_special_characters_round_trip()
    {
        var store = await StoreAsync();
        string[] keys = ["a b/c?d=1&e", "x#y/%z", "plus+sign", "ü/日本語", "semi;colon/col:on"];
        foreach (var k in keys)
        {
            await store.PutAsync(k, Bytes(k));
        }

        foreach (var k in keys)
        {
            Assert.Equal(k, Text((await store.GetAsync(k)).Value));
        }

        Assert.Equal(keys.Order(StringComparer.Ordinal), (await store.ListAsync("")).Select(p => p.Key));
        Assert.Equal(["x#y/%z"], (await store.ListAsync("x#y")).Select(p => p.Key));
        await store.DeleteTreeAsync("ü");
        Assert.False(await store.ExistsAsync("ü/日本語"));
        await store.DeleteAsync("a b/c?d=1&e");
        Assert.False(await store.ExistsAsync("a b/c?d=1&e"));
    }

    [Fact]
    public async Task Values_too_large_for_a_transaction_still_follow_the_contract()
    {
        var store = await StoreAsync();
        var big = new byte[450 * 1024];
        new Random(7).NextBytes(big);
        var created = await store.AtomicPutAsync("big", big, null);
        Assert.True(created.LastIndex > 0);
        Assert.Equal(created.LastIndex, (await store.GetAsync("big")).LastIndex);
        Assert.Equal(KvErrorCode.KeyExists, (await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("big", big, null))).Code);
        var updated = await store.AtomicPutAsync("big", big, created);
        Assert.True(updated.LastIndex > created.LastIndex);
        Assert.Equal(KvErrorCode.KeyModified, (await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("big", big, created))).Code);
        await store.PutAsync("big", big);
        Assert.True((await store.GetAsync("big")).LastIndex > updated.LastIndex);
        await store.DeleteAsync("big");
        Assert.Equal(KvErrorCode.KeyNotFound, (await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("big", big, updated))).Code);

        // A large value with a TTL goes through the KV endpoint with acquire; a plain large Put then makes it permanent.
        await store.PutAsync("big-ttl", big, new WriteOptions { Ttl = TimeSpan.FromSeconds(1) });
        await store.PutAsync("big-ttl", big);
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(3.5))
        {
            Assert.True(await store.ExistsAsync("big-ttl"));
            await Task.Delay(200);
        }

        var e = await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("big-ttl", big, null, new WriteOptions { Ttl = TimeSpan.FromSeconds(5) }));
        Assert.Equal(KvErrorCode.NotSupported, e.Code);
    }

    [Fact]
    public async Task A_plain_put_keeps_another_clients_lock()
    {
        var clients = await ClientsAsync(2);
        await using var locker = clients[0].NewLock("locked", new LockOptions { Value = Bytes("owner") });
        var lost = await locker.LockAsync();
        await clients[1].PutAsync("locked", Bytes("overwritten"));
        await Task.Delay(500);
        Assert.True(locker.IsHeld);
        Assert.False(lost.IsCancellationRequested);
        Assert.Equal("overwritten", Text((await clients[1].GetAsync("locked")).Value));
    }

    [Fact]
    public async Task A_hold_is_lost_when_another_client_takes_or_deletes_the_key()
    {
        var clients = await ClientsAsync(2);
        await using var taken = clients[0].NewLock("taken");
        var takenLost = await taken.LockAsync();
        await clients[1].PutAsync("taken", Bytes("ttl entry"), new WriteOptions { Ttl = TimeSpan.FromSeconds(20) });
        await Eventually(() => Task.FromResult(takenLost.IsCancellationRequested), "the hold of a key taken by a TTL session to end");
        Assert.False(taken.IsHeld);
        Assert.Equal(0UL, taken.FencingToken);

        await using var deleted = clients[0].NewLock("deleted");
        var deletedLost = await deleted.LockAsync();
        await clients[1].DeleteAsync("deleted");
        await Eventually(() => Task.FromResult(deletedLost.IsCancellationRequested), "the hold of a deleted key to end");
        Assert.False(deleted.IsHeld);
        Assert.Equal(KvErrorCode.LockNotHeld, (await Assert.ThrowsAsync<KvException>(async () => await deleted.UnlockAsync())).Code);
    }

    [Fact]
    public async Task Unlock_keeps_a_value_another_client_wrote_during_the_hold()
    {
        var clients = await ClientsAsync(2);
        await using var locker = clients[0].NewLock("locked", new LockOptions { Value = Bytes("owner") });
        await locker.LockAsync();
        await clients[1].PutAsync("locked", Bytes("acknowledged"));
        await locker.UnlockAsync();
        Assert.Equal("acknowledged", Text((await clients[1].GetAsync("locked")).Value));
        await using var other = clients[1].NewLock("locked");
        Assert.True(await other.TryLockAsync(TimeSpan.FromSeconds(5)), "the lock is free at once after unlock");
    }

    [Fact]
    public async Task A_plain_put_from_another_client_makes_a_ttl_key_permanent()
    {
        var clients = await ClientsAsync(2);
        await clients[0].PutAsync("k", Bytes("temporary"), new WriteOptions { Ttl = TimeSpan.FromSeconds(1) });
        await clients[1].PutAsync("k", Bytes("permanent"));
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(3.5))
        {
            Assert.True(await clients[0].ExistsAsync("k"));
            await Task.Delay(200);
        }

        Assert.Equal("permanent", Text((await clients[0].GetAsync("k")).Value));
    }

    [Fact]
    public async Task After_its_sessions_are_destroyed_the_store_locks_and_writes_with_new_ones()
    {
        var store = (ConsulStore)await StoreAsync();
        await using var locker = store.NewLock("l", new LockOptions { Ttl = TimeSpan.FromSeconds(2) });
        var lost = await locker.LockAsync();
        await store.PutAsync("svc", Bytes("x"), new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true });
        var before = store.SessionIds().ToHashSet();
        Assert.Equal(2, before.Count);
        await Fixture.ExpireSessionAsync(store);
        await Eventually(() => Task.FromResult(lost.IsCancellationRequested), "the hold to be lost");
        await Eventually(async () => !await store.ExistsAsync("svc"), "the keep-alive key to go");
        await locker.LockAsync();
        Assert.True(locker.IsHeld);
        await store.PutAsync("svc", Bytes("y"), new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true });
        Assert.DoesNotContain(store.SessionIds(), before.Contains);
        await Task.Delay(TimeSpan.FromSeconds(4.5));
        Assert.True(await store.ExistsAsync("svc"));
        Assert.True(locker.IsHeld);
    }

    [Fact]
    public async Task Concurrent_ttl_writes_of_one_key_keep_the_last_one_alive()
    {
        // Each TTL write has its own session and destroys the one it replaced; done out of order, that would
        // destroy the session of the write that came last and delete an acknowledged key long before its TTL.
        var store = await StoreAsync();
        var ttl = new WriteOptions { Ttl = TimeSpan.FromSeconds(20) };
        for (var round = 0; round < 5; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(async () => await store.PutAsync("k", Bytes("v" + i), ttl))));
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < TimeSpan.FromSeconds(0.5))
            {
                Assert.True(await store.ExistsAsync("k"), $"round {round}: the key vanished after every write was acknowledged");
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task The_client_session_ids_are_visible_for_expiry()
    {
        var store = (ConsulStore)await StoreAsync();
        Assert.Empty(store.SessionIds());
        await store.PutAsync("svc", Bytes("x"), new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true });
        Assert.Single(store.SessionIds());
        await store.PutAsync("svc2", Bytes("x"), new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true });
        Assert.Single(store.SessionIds());
        Assert.Equal(Encoding.UTF8.GetBytes("x"), (await store.GetAsync("svc2")).Value);
    }
}
