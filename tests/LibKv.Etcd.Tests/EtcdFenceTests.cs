using System.Text;
using Xunit;

namespace LibKv.Etcd.Tests;

/// <summary>Fenced writes checked by the server: the hold's waiter key is compared in the write's own Txn.</summary>
public sealed class EtcdFenceTests : IClassFixture<EtcdFixture>
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(KVPair pair) => Encoding.UTF8.GetString(pair.Value);

    [Fact]
    public async Task A_fenced_write_after_the_lease_was_revoked_out_of_band_is_refused_by_the_server_before_the_locker_noticed()
    {
        var server = await EtcdFixture.SharedServerAsync();
        var options = new StoreOptions { Endpoints = { server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") };
        await using var store = await EtcdStore.CreateAsync(options);
        await using var observer = await EtcdStore.CreateAsync(options);

        // A long TTL: the next keep-alive (which would tell the locker) is ~10 s away.
        await using var locker = store.NewLock("lock", new LockOptions { Ttl = TimeSpan.FromSeconds(30) });
        await locker.LockAsync();
        await store.PutAsync("data", Bytes("held"), new WriteOptions { IfHeld = locker });
        var current = await store.GetAsync("data");

        // While held, a failed compare-and-swap is still a CAS failure, not a lost lock.
        var stale = await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("data", Bytes("x"), new KVPair("data", current.Value, current.LastIndex - 1), new WriteOptions { IfHeld = locker }));
        Assert.Equal(KvErrorCode.KeyModified, stale.Code);
        var exists = await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("data", Bytes("x"), null, new WriteOptions { IfHeld = locker }));
        Assert.Equal(KvErrorCode.KeyExists, exists.Code);

        // The watch of the waiter key stays down, so the locker cannot learn of the revoke from it either.
        store.Hub.Suspend();
        try
        {
            var lease = Assert.Single(store.LeaseIds);
            await using (var admin = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint } }))
            {
                await admin.Connection.RevokeAsync(lease, CancellationToken.None);
            }

            var put = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("data", Bytes("stale"), new WriteOptions { IfHeld = locker }));
            Assert.Equal(KvErrorCode.LockNotHeld, put.Code);
            var cas = await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("data", Bytes("stale"), current, new WriteOptions { IfHeld = locker }));
            Assert.Equal(KvErrorCode.LockNotHeld, cas.Code);
            var create = await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("new", Bytes("stale"), null, new WriteOptions { IfHeld = locker }));
            Assert.Equal(KvErrorCode.LockNotHeld, create.Code);

            // Still held locally: the refusals came from the server's compare, not from the local check.
            Assert.True(locker.IsHeld, "the locker should not have noticed the revoke yet");
        }
        finally
        {
            store.Hub.Resume();
        }

        var after = await observer.GetAsync("data");
        Assert.Equal("held", Text(after));
        Assert.Equal(current.LastIndex, after.LastIndex);
        Assert.False(await observer.ExistsAsync("new"));
    }
}
