using System.Diagnostics;
using System.Text;
using Xunit;

namespace LibKv.Etcd.Tests;

/// <summary>Keep-alive keys outlive the lease behind them: written again with their last value when it ends.</summary>
public sealed class EtcdKeepAliveTests : IClassFixture<EtcdFixture>
{
    private static readonly WriteOptions s_keepAlive = new() { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true };

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task A_keep_alive_key_whose_lease_was_revoked_is_written_again_and_kept_alive_and_a_deleted_one_is_not()
    {
        var server = await EtcdFixture.SharedServerAsync();
        var options = new StoreOptions { Endpoints = { server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") };
        await using var store = await EtcdStore.CreateAsync(options);
        await using var observer = await EtcdStore.CreateAsync(options);
        await store.PutAsync("svc/a", Bytes("a1"), s_keepAlive);
        await store.PutAsync("svc/a", Bytes("a2"), s_keepAlive);
        await store.PutAsync("svc/deleted", Bytes("d"), s_keepAlive);
        await store.PutAsync("tree/x", Bytes("x"), s_keepAlive);
        await store.PutAsync("svc/plain", Bytes("p1"), s_keepAlive);
        await store.PutAsync("svc/plain", Bytes("p2"));
        await store.DeleteAsync("svc/deleted");
        await store.DeleteTreeAsync("tree");
        var lease = Assert.Single(store.LeaseIds);

        await RevokeAsync(server, lease);
        Assert.False(await observer.ExistsAsync("svc/a"), "the revoke removes the key with its lease");

        await EventuallyAsync(async () => await observer.ExistsAsync("svc/a"), "the key to be written again", TimeSpan.FromSeconds(15));
        Assert.Equal("a2", Encoding.UTF8.GetString((await observer.GetAsync("svc/a")).Value));
        Assert.DoesNotContain(lease, store.LeaseIds);
        Assert.False(await observer.ExistsAsync("svc/deleted"));
        Assert.False(await observer.ExistsAsync("tree/x"));
        Assert.Equal("p2", Encoding.UTF8.GetString((await observer.GetAsync("svc/plain")).Value));

        // Kept alive on the new lease: still there well past 2 × TTL + 1 s.
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(7))
        {
            Assert.True(await observer.ExistsAsync("svc/a"), "the rewritten key must stay alive");
            await Task.Delay(250);
        }

        // Disposing the store ends it.
        await store.DisposeAsync();
        await EventuallyAsync(async () => !await observer.ExistsAsync("svc/a"), "the key to go with the store", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_keep_alive_key_comes_back_after_the_store_was_cut_off_for_longer_than_its_lease()
    {
        var server = await EtcdFixture.SharedServerAsync();
        await using var proxy = new TcpProxy(server.ClientPort);
        var root = "t/" + Guid.NewGuid().ToString("N");
        await using var store = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { proxy.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(2) });
        await using var observer = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await store.PutAsync("svc/a", Bytes("a"), s_keepAlive);

        proxy.Block();
        try
        {
            // The lease runs out on the server while the store cannot reach it.
            await EventuallyAsync(async () => !await observer.ExistsAsync("svc/a"), "the key to expire during the cut", TimeSpan.FromSeconds(15));
        }
        finally
        {
            proxy.Unblock();
        }

        await EventuallyAsync(async () => await observer.ExistsAsync("svc/a"), "the key to be written again once the server is reachable", TimeSpan.FromSeconds(15));
        Assert.Equal("a", Encoding.UTF8.GetString((await observer.GetAsync("svc/a")).Value));
    }

    private static async Task RevokeAsync(EtcdServer server, long lease)
    {
        await using var admin = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint } });
        await admin.Connection.RevokeAsync(lease, CancellationToken.None);
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what, TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < deadline, "timed out waiting for " + what);
            await Task.Delay(50);
        }
    }
}
