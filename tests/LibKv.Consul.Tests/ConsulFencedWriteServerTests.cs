using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>Issue 11: the fence of a write is checked by Consul in the write's transaction, not only by the client.</summary>
public sealed class ConsulFencedWriteServerTests
{
    [Fact]
    public async Task A_fenced_write_sent_while_held_but_arriving_after_an_out_of_band_session_destroy_is_LockNotHeld_and_changes_nothing()
    {
        var server = await ConsulServer.Shared;
        await using var proxy = new TcpProxy(server.HttpPort);
        var root = "fence/" + Guid.NewGuid().ToString("N");
        await using var holder = new ConsulStore(new StoreOptions { Endpoints = { proxy.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(20) });
        await using var reader = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await using var locker = holder.NewLock("lock", new LockOptions { Ttl = TimeSpan.FromSeconds(10) });
        await locker.LockAsync();
        await holder.PutAsync("data", "kept"u8.ToArray(), new WriteOptions { IfHeld = locker });
        var before = await reader.GetAsync("data");

        // The holder's traffic is held back: the fenced writes pass the client's own check (the hold is live here)
        // and reach Consul only after the session is destroyed behind the client's back.
        proxy.Freeze();
        Assert.True(locker.IsHeld);
        var put = holder.PutAsync("data", "stale"u8.ToArray(), new WriteOptions { IfHeld = locker }).AsTask();
        var cas = holder.AtomicPutAsync("data", "stale-cas"u8.ToArray(), before, new WriteOptions { IfHeld = locker }).AsTask();
        var ttl = holder.PutAsync("data", "stale-ttl"u8.ToArray(), new WriteOptions { IfHeld = locker, Ttl = TimeSpan.FromSeconds(30) }).AsTask();
        await server.DestroySessionsAsync(holder.SessionIds());
        proxy.Thaw();

        foreach (var write in new[] { put, cas, ttl })
        {
            var e = await Assert.ThrowsAsync<KvException>(() => write);
            Assert.Equal(KvErrorCode.LockNotHeld, e.Code);
        }

        var after = await reader.GetAsync("data");
        Assert.Equal("kept", System.Text.Encoding.UTF8.GetString(after.Value));
        Assert.Equal(before.LastIndex, after.LastIndex);

        // The refused check ended the hold here too.
        Assert.False(locker.IsHeld);
    }

    [Fact]
    public async Task A_fenced_write_right_after_an_out_of_band_session_destroy_is_LockNotHeld_and_changes_nothing()
    {
        var server = await ConsulServer.Shared;
        var root = "fence/" + Guid.NewGuid().ToString("N");
        await using var holder = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await using var locker = holder.NewLock("lock", new LockOptions { Ttl = TimeSpan.FromSeconds(10) });
        await locker.LockAsync();
        await holder.PutAsync("data", "kept"u8.ToArray(), new WriteOptions { IfHeld = locker });
        var before = await holder.GetAsync("data");

        await server.DestroySessionsAsync(holder.SessionIds());
        var e = await Assert.ThrowsAsync<KvException>(async () => await holder.PutAsync("data", "stale"u8.ToArray(), new WriteOptions { IfHeld = locker }));
        Assert.Equal(KvErrorCode.LockNotHeld, e.Code);
        var after = await holder.GetAsync("data");
        Assert.Equal("kept", System.Text.Encoding.UTF8.GetString(after.Value));
        Assert.Equal(before.LastIndex, after.LastIndex);
    }
}
