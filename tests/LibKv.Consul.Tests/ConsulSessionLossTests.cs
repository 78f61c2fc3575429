using System.Diagnostics;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>Issue 8 items 1 and 11: a lock holder knows of its loss first; keep-alive keys come back after a session loss.</summary>
public sealed class ConsulSessionLossTests
{
    [Fact]
    public async Task A_lock_holder_cut_off_from_consul_sees_its_hold_lost_before_another_client_acquires()
    {
        var server = await ConsulServer.Shared;
        await using var proxy = new TcpProxy(server.HttpPort);
        var root = "loss/" + Guid.NewGuid().ToString("N");
        var ttl = TimeSpan.FromSeconds(2);

        // The holder's RequestTimeout is longer than the TTL: a hung renewal must not delay the verdict.
        await using var holder = new ConsulStore(new StoreOptions { Endpoints = { proxy.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(10) });
        await using var other = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await using var held = holder.NewLock("l", new LockOptions { Ttl = ttl });
        var lost = await held.LockAsync();
        var clock = Stopwatch.StartNew();
        var lostAt = TimeSpan.MaxValue;
        using var registration = lost.Register(() => lostAt = clock.Elapsed);
        using var states = new LibKv.Conformance.Recorder<StoreState>(holder.States);

        proxy.Freeze();
        await using var taker = other.NewLock("l", new LockOptions { Ttl = ttl });
        await taker.LockAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        var acquiredAt = clock.Elapsed;

        Assert.True(lost.IsCancellationRequested, $"the first holder's LostToken had not fired when another client acquired at {acquiredAt}");
        Assert.True(lostAt < acquiredAt, $"lost at {lostAt}, acquired by another client at {acquiredAt}");
        Assert.False(held.IsHeld);
        Assert.True(taker.FencingToken > 0);
        await states.WaitFor(l => l.Contains(StoreState.SessionLost), "SessionLost for the session behind the lost hold");
        proxy.Thaw();
        await states.WaitFor(l => l[^1] == StoreState.Reconnected, "Reconnected once Consul answers again");
    }

    [Fact]
    public async Task A_keep_alive_key_is_written_again_after_its_session_is_destroyed_until_deleted_through_the_store()
    {
        var server = await ConsulServer.Shared;
        var root = "loss/" + Guid.NewGuid().ToString("N");
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await using var reader = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        var keepAlive = new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true };
        await store.PutAsync("svc/a", "a1"u8.ToArray(), keepAlive);
        await store.PutAsync("svc/a", "a2"u8.ToArray(), keepAlive);
        await store.PutAsync("svc/b", "b"u8.ToArray(), keepAlive);

        var before = (await reader.GetAsync("svc/a")).LastIndex;

        // Out of band, as an expiry during a long pause would: Consul deletes every key of the session at once.
        await server.DestroySessionsAsync(store.SessionIds());

        await Until(async () => await reader.ExistsAsync("svc/a") && await reader.ExistsAsync("svc/b"), "both keys written again");
        Assert.True((await reader.GetAsync("svc/a")).LastIndex > before, "svc/a was written again");
        Assert.Equal("a2"u8.ToArray(), (await reader.GetAsync("svc/a")).Value);

        // Kept alive from then on: a second loss brings them back too.
        await server.DestroySessionsAsync(store.SessionIds());
        await Until(async () => await reader.ExistsAsync("svc/a") && await reader.ExistsAsync("svc/b"), "both keys written again after a second loss");

        // Delete through the store ends a keep-alive; a plain Put too (the key stays, without a session).
        await store.DeleteAsync("svc/a");
        await store.PutAsync("svc/b", "plain"u8.ToArray());
        await store.PutAsync("svc/c", "c"u8.ToArray(), keepAlive);
        await server.DestroySessionsAsync(store.SessionIds());
        await Until(async () => await reader.ExistsAsync("svc/c"), "the remaining keep-alive key written again");
        Assert.False(await reader.ExistsAsync("svc/a"), "a key deleted through the store is not written again");
        Assert.Equal("plain"u8.ToArray(), (await reader.GetAsync("svc/b")).Value);
    }

    [Fact]
    public async Task A_keep_alive_key_comes_back_when_its_store_was_cut_off_past_the_ttl()
    {
        var server = await ConsulServer.Shared;
        await using var proxy = new TcpProxy(server.HttpPort);
        var root = "loss/" + Guid.NewGuid().ToString("N");
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { proxy.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(1) });
        await using var reader = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await store.PutAsync("svc", "here"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(1), KeepAlive = true });

        proxy.Freeze();
        await Until(async () => !await reader.ExistsAsync("svc"), "the key gone while its store is cut off");
        proxy.Thaw();

        await Until(async () => await reader.ExistsAsync("svc"), "the key written again once Consul answers");
        Assert.Equal("here"u8.ToArray(), (await reader.GetAsync("svc")).Value);
    }

    internal static async Task Until(Func<Task<bool>> condition, string what, int seconds = 30)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}
