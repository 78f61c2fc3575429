using Xunit;

namespace LibKv.Conformance;

/// <summary>Fenced writes: <see cref="WriteOptions.IfHeld"/> applies a write only while the lock is held at the server.</summary>
public abstract class FencedWriteTests(IKvFixture fixture) : KvTestBase(fixture)
{
    [Fact]
    public async Task A_fenced_write_is_applied_while_the_lock_is_held()
    {
        var store = await StoreAsync();
        await using var locker = store.NewLock("fence/lock", new LockOptions { Ttl = Fixture.Ttl });
        await locker.LockAsync();
        await store.PutAsync("fence/data", Bytes("v1"), new WriteOptions { IfHeld = locker });
        var pair = await store.GetAsync("fence/data");
        Assert.Equal("v1", Text(pair.Value));
        var next = await store.AtomicPutAsync("fence/data", Bytes("v2"), pair, new WriteOptions { IfHeld = locker });
        Assert.Equal("v2", Text((await store.GetAsync("fence/data")).Value));
        Assert.NotEqual(pair.LastIndex, next.LastIndex);
        await store.AtomicPutAsync("fence/created", Bytes("c"), null, new WriteOptions { IfHeld = locker, Ttl = Fixture.Ttl * 10 });
        Assert.True(await store.ExistsAsync("fence/created"));
    }

    [Fact]
    public async Task After_unlock_a_fenced_write_is_LockNotHeld_and_changes_nothing()
    {
        var store = await StoreAsync();
        await using var locker = store.NewLock("fence/lock", new LockOptions { Ttl = Fixture.Ttl });
        await locker.LockAsync();
        await store.PutAsync("fence/data", Bytes("kept"), new WriteOptions { IfHeld = locker });
        await locker.UnlockAsync();
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("fence/data", Bytes("late"), new WriteOptions { IfHeld = locker }));
        Assert.Equal(KvErrorCode.LockNotHeld, e.Code);
        Assert.Equal("kept", Text((await store.GetAsync("fence/data")).Value));
    }

    [Fact]
    public async Task A_holder_whose_session_was_lost_while_another_took_the_lock_is_refused_and_nothing_changes()
    {
        var clients = await ClientsAsync(2);
        await using var first = clients[0].NewLock("fence/lock", new LockOptions { Ttl = Fixture.Ttl });
        await first.LockAsync();
        await clients[0].PutAsync("fence/data", Bytes("first"), new WriteOptions { IfHeld = first });
        await using var second = clients[1].NewLock("fence/lock", new LockOptions { Ttl = Fixture.Ttl });
        var taking = second.LockAsync().AsTask();
        await Fixture.ExpireSessionAsync(clients[0]);
        await Within(taking, "the second client to take the lock");
        await clients[1].PutAsync("fence/data", Bytes("second"), new WriteOptions { IfHeld = second });

        var e = await Assert.ThrowsAsync<KvException>(async () => await clients[0].PutAsync("fence/data", Bytes("stale"), new WriteOptions { IfHeld = first }));
        Assert.Equal(KvErrorCode.LockNotHeld, e.Code);
        var current = await clients[1].GetAsync("fence/data");
        Assert.Equal("second", Text(current.Value));
        var cas = await Assert.ThrowsAsync<KvException>(async () => await clients[0].AtomicPutAsync("fence/data", Bytes("stale"), current, new WriteOptions { IfHeld = first }));
        Assert.Equal(KvErrorCode.LockNotHeld, cas.Code);
        Assert.Equal("second", Text((await clients[1].GetAsync("fence/data")).Value));
    }

    [Fact]
    public async Task A_fence_must_be_a_locker_of_the_same_store_and_cannot_keep_alive()
    {
        var clients = await ClientsAsync(2);
        await using var foreign = clients[1].NewLock("fence/lock");
        await using var own = clients[0].NewLock("fence/own");
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await clients[0].PutAsync("fence/data", Bytes("x"), new WriteOptions { IfHeld = foreign }));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await clients[0].PutAsync("fence/data", Bytes("x"), new WriteOptions { IfHeld = own, Ttl = Fixture.Ttl, KeepAlive = true }));
        Assert.False(await clients[0].ExistsAsync("fence/data"));
    }
}
