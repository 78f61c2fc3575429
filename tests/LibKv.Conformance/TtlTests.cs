using System.Diagnostics;
using Xunit;

namespace LibKv.Conformance;

/// <summary>Contract, TTL: expiry bound, keep-alive (service registration), and making a key permanent again.</summary>
public abstract class TtlTests(IKvFixture fixture) : KvTestBase(fixture)
{
    /// <summary>The TTL these tests use (the fixture's; 1 s unless its server needs more).</summary>
    protected TimeSpan Ttl => Fixture.Ttl;

    /// <summary>The contract's bound (2 × TTL + 1 s) plus slack for a loaded test machine.</summary>
    protected TimeSpan GoneDeadline => 2 * Ttl + TimeSpan.FromSeconds(1) + TimeSpan.FromSeconds(6);

    /// <summary>How long a key must be seen to survive to prove it is not expiring.</summary>
    protected TimeSpan SurviveWindow => 2 * Ttl + TimeSpan.FromSeconds(1.5);

    [Fact]
    public async Task A_key_with_a_ttl_is_readable_at_once_and_gone_within_the_bound()
    {
        var clients = await ClientsAsync(2);
        await clients[0].PutAsync("ephemeral", Bytes("v"), new WriteOptions { Ttl = Ttl });
        Assert.Equal("v", Text((await clients[1].GetAsync("ephemeral")).Value));
        await Eventually(async () => !await clients[1].ExistsAsync("ephemeral"), "the TTL key to expire", GoneDeadline);
        Assert.Equal(KvErrorCode.KeyNotFound, (await Assert.ThrowsAsync<KvException>(async () => await clients[1].GetAsync("ephemeral"))).Code);
    }

    [Fact]
    public async Task AtomicPut_honours_the_ttl()
    {
        var store = await StoreAsync();
        var created = await store.AtomicPutAsync("ephemeral", Bytes("v"), null, new WriteOptions { Ttl = Ttl });
        Assert.True(created.LastIndex > 0);
        await Eventually(async () => !await store.ExistsAsync("ephemeral"), "the AtomicPut TTL key to expire", GoneDeadline);
    }

    [Fact]
    public async Task A_keep_alive_key_lives_while_its_store_does_and_goes_when_it_is_disposed()
    {
        var clients = await ClientsAsync(2);
        await clients[0].PutAsync("services/web/1", Bytes("10.0.0.1:80"), new WriteOptions { Ttl = Ttl, KeepAlive = true });
        await StaysPresent(clients[1], "services/web/1");
        await clients[0].DisposeAsync();
        await Eventually(async () => !await clients[1].ExistsAsync("services/web/1"), "the keep-alive key to go after dispose", GoneDeadline);
    }

    [Fact]
    public async Task A_plain_put_makes_a_ttl_key_permanent()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("temporary"), new WriteOptions { Ttl = Ttl });
        await store.PutAsync("k", Bytes("permanent"));
        await StaysPresent(store, "k");
        Assert.Equal("permanent", Text((await store.GetAsync("k")).Value));
    }

    [Fact]
    public async Task Rewriting_with_a_ttl_restarts_the_clock()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("permanent"));
        await store.PutAsync("k", Bytes("temporary"), new WriteOptions { Ttl = Ttl });
        await Eventually(async () => !await store.ExistsAsync("k"), "the rewritten key to expire", GoneDeadline);
    }

    [Fact]
    public async Task A_keep_alive_key_is_written_again_after_a_lost_session_and_the_store_stays_usable()
    {
        var clients = await ClientsAsync(2);
        await clients[0].PutAsync("svc/a", Bytes("a"), new WriteOptions { Ttl = Ttl, KeepAlive = true });
        var before = await clients[1].GetAsync("svc/a");
        await clients[0].PutAsync("plain", Bytes("p"));
        await Fixture.ExpireSessionAsync(clients[0]);

        // The key may vanish meanwhile, but the store writes it again with its last value on the new session.
        await Eventually(
            async () =>
            {
                try
                {
                    var now = await clients[1].GetAsync("svc/a");
                    return now.LastIndex != before.LastIndex && now.Value.AsSpan().SequenceEqual(Bytes("a"));
                }
                catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound || e.IsTransient)
                {
                    return false;
                }
            },
            "the keep-alive key of the lost session to be written again",
            GoneDeadline);
        Assert.True(await clients[1].ExistsAsync("plain"));
        await StaysPresent(clients[1], "svc/a");
        await Eventually(
            async () =>
            {
                try
                {
                    await clients[0].PutAsync("svc/b", Bytes("b"), new WriteOptions { Ttl = Ttl, KeepAlive = true });
                    return true;
                }
                catch (KvException e) when (e.IsTransient)
                {
                    return false;
                }
            },
            "the store to accept writes again");
        await StaysPresent(clients[1], "svc/b");

        // Disposing the store still ends the keep-alive.
        await clients[0].DisposeAsync();
        await Eventually(async () => !await clients[1].ExistsAsync("svc/a"), "the keep-alive key to go with its store", GoneDeadline);
    }

    [Fact]
    public async Task A_key_deleted_through_its_store_stays_deleted_after_a_lost_session()
    {
        var clients = await ClientsAsync(2);
        await clients[0].PutAsync("svc/gone", Bytes("g"), new WriteOptions { Ttl = Ttl, KeepAlive = true });
        await clients[0].PutAsync("svc/plain", Bytes("x"), new WriteOptions { Ttl = Ttl, KeepAlive = true });
        await clients[0].DeleteAsync("svc/gone");
        await clients[0].PutAsync("svc/plain", Bytes("p"));
        await clients[0].PutAsync("svc/kept", Bytes("k"), new WriteOptions { Ttl = Ttl, KeepAlive = true });
        await Fixture.ExpireSessionAsync(clients[0]);
        await Eventually(async () => await clients[1].ExistsAsync("svc/kept"), "the live keep-alive key to be back", GoneDeadline);
        await StaysPresent(clients[1], "svc/kept");
        Assert.False(await clients[1].ExistsAsync("svc/gone"));
        Assert.Equal(Bytes("p"), (await clients[1].GetAsync("svc/plain")).Value);
    }

    [Fact]
    public async Task Invalid_ttl_options_are_rejected()
    {
        var store = await StoreAsync();
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.PutAsync("k", Bytes("v"), new WriteOptions { Ttl = TimeSpan.Zero }));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.PutAsync("k", Bytes("v"), new WriteOptions { Ttl = TimeSpan.FromSeconds(-1) }));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.PutAsync("k", Bytes("v"), new WriteOptions { KeepAlive = true }));
        Assert.False(await store.ExistsAsync("k"));
    }

    /// <summary>Checks repeatedly, for longer than the expiry bound, that the key is still there.</summary>
    protected async Task StaysPresent(IStore store, string key)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < SurviveWindow)
        {
            Assert.True(await store.ExistsAsync(key), $"'{key}' vanished after {watch.Elapsed.TotalSeconds:F1}s");
            await Task.Delay(100);
        }
    }
}
