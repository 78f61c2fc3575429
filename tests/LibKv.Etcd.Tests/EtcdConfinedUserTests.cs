using System.Diagnostics;
using System.Text;
using Google.Protobuf;
using LibKv.Conformance;
using LibKv.Etcd.Protocol;
using Xunit;

namespace LibKv.Etcd.Tests;

/// <summary>A dedicated etcd with auth on, a root user and a user "app" whose role covers only the prefix "c/app/".</summary>
public sealed class ConfinedEtcd : DedicatedEtcd, IAsyncLifetime
{
    public const string RootPassword = "r00t";
    public const string AppPassword = "app-pw";
    public const string AppPrefix = "c/app";

    async Task IAsyncLifetime.InitializeAsync()
    {
        await InitializeAsync();
        await using var admin = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { Server.Endpoint } });
        var c = admin.Connection;
        await c.CallAsync(EtcdMethods.RoleAdd, new AuthRoleAddRequest { Name = "root" }, AuthRoleAddResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
        await c.CallAsync(EtcdMethods.UserAdd, new AuthUserAddRequest { Name = "root", Password = RootPassword }, AuthUserAddResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
        await c.CallAsync(EtcdMethods.UserGrantRole, new AuthUserGrantRoleRequest { User = "root", Role = "root" }, AuthUserGrantRoleResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
        await c.CallAsync(EtcdMethods.RoleAdd, new AuthRoleAddRequest { Name = "app" }, AuthRoleAddResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);

        // READWRITE on exactly the range of the prefix "c/app/" (etcdctl's --prefix: range end = prefix with its last byte incremented).
        var permission = new Permission { PermType = Permission.Types.Type.Readwrite, Key = ByteString.CopyFromUtf8(AppPrefix + "/"), RangeEnd = ByteString.CopyFromUtf8(AppPrefix + "0") };
        await c.CallAsync(EtcdMethods.RoleGrantPermission, new AuthRoleGrantPermissionRequest { Name = "app", Perm = permission }, AuthRoleGrantPermissionResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
        await c.CallAsync(EtcdMethods.UserAdd, new AuthUserAddRequest { Name = "app", Password = AppPassword }, AuthUserAddResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
        await c.CallAsync(EtcdMethods.UserGrantRole, new AuthUserGrantRoleRequest { User = "app", Role = "app" }, AuthUserGrantRoleResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
        await c.CallAsync(EtcdMethods.AuthEnable, new AuthEnableRequest(), AuthEnableResponse.Parser, null, EtcdCall.SafeWrite, CancellationToken.None);
    }

    public StoreOptions App(string root) => new() { Endpoints = { Server.Endpoint }, Username = "app", Password = AppPassword, Root = root, RequestTimeout = TimeSpan.FromSeconds(5) };

    public StoreOptions Admin() => new() { Endpoints = { Server.Endpoint }, Username = "root", Password = RootPassword };
}

/// <summary>A user whose role covers only the store's Root can use every operation; outside it, Unauthorized.</summary>
public sealed class EtcdConfinedUserTests(ConfinedEtcd etcd) : IClassFixture<ConfinedEtcd>
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Text(KVPair? pair) => pair is null ? null : Encoding.UTF8.GetString(pair.Value);

    [Fact]
    public async Task A_user_confined_to_the_root_prefix_can_use_every_operation_locks_included()
    {
        await using var a = await EtcdStore.CreateAsync(etcd.App(ConfinedEtcd.AppPrefix));
        await using var b = await EtcdStore.CreateAsync(etcd.App(ConfinedEtcd.AppPrefix));
        var dir = Guid.NewGuid().ToString("N")[..8];

        // Basic operations and compare-and-swap.
        await a.PutAsync(dir + "/k", Bytes("v1"));
        var v1 = await a.GetAsync(dir + "/k");
        Assert.Equal("v1", Text(v1));
        Assert.True(await a.ExistsAsync(dir + "/k"));
        var v2 = await a.AtomicPutAsync(dir + "/k", Bytes("v2"), v1);
        Assert.Equal(KvErrorCode.KeyModified, (await Assert.ThrowsAsync<KvException>(async () => await a.AtomicPutAsync(dir + "/k", Bytes("x"), v1))).Code);
        await a.AtomicPutAsync(dir + "/created", Bytes("c"), null);
        await a.AtomicDeleteAsync(dir + "/k", v2);
        await a.PutAsync(dir + "/tree/1", Bytes("1"));
        Assert.Equal([dir + "/created", dir + "/tree/1"], (await a.ListAsync(dir)).Select(p => p.Key));
        await a.DeleteTreeAsync(dir + "/tree");
        await a.DeleteAsync(dir + "/created");

        // Watches: a key and a tree.
        using var watch = new Recorder<KVPair?>(b.Watch(dir + "/w"));
        using var tree = new Recorder<IReadOnlyList<KVPair>>(b.WatchTree(dir));
        await watch.WaitFor(items => items.Count > 0, "the first state of the watch");
        await tree.WaitFor(items => items.Count > 0, "the first state of the tree watch");
        await a.PutAsync(dir + "/w", Bytes("seen"));
        await watch.WaitForLast(p => Text(p) == "seen", "the change seen by the confined watch");
        await tree.WaitForLast(l => l.Any(p => p.Key == dir + "/w"), "the change seen by the confined tree watch");

        // A TTL key goes; a keep-alive key stays past its TTL.
        await a.PutAsync(dir + "/ttl", Bytes("t"), new WriteOptions { Ttl = TimeSpan.FromSeconds(1) });
        await a.PutAsync(dir + "/alive", Bytes("a"), new WriteOptions { Ttl = TimeSpan.FromSeconds(1), KeepAlive = true });
        var alive = await b.GetAsync(dir + "/alive");
        var since = Stopwatch.StartNew();
        await EventuallyAsync(async () => !await b.ExistsAsync(dir + "/ttl"), "the TTL key to expire");

        // The keep-alive key is there at every look for three lease TTLs (its lease is 2 s).
        await EventuallyAsync(async () => (await b.GetAsync(dir + "/alive")).LastIndex == alive.LastIndex && since.Elapsed > TimeSpan.FromSeconds(6), "three lease TTLs to pass");

        // A lock, two clients contending, and a fenced write.
        await using var first = a.NewLock(dir + "/lock", new LockOptions { Ttl = TimeSpan.FromSeconds(2) });
        await using var second = b.NewLock(dir + "/lock", new LockOptions { Ttl = TimeSpan.FromSeconds(2) });
        await first.LockAsync();
        var waiting = second.LockAsync().AsTask();
        await using (var third = b.NewLock(dir + "/lock"))
        {
            Assert.False(await third.TryLockAsync(TimeSpan.FromMilliseconds(300)));
        }

        Assert.False(waiting.IsCompleted);
        await a.PutAsync(dir + "/fenced", Bytes("first"), new WriteOptions { IfHeld = first });
        await first.UnlockAsync();
        await waiting.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(second.IsHeld);
        await b.PutAsync(dir + "/fenced", Bytes("second"), new WriteOptions { IfHeld = second });
        Assert.Equal("second", Text(await a.GetAsync(dir + "/fenced")));

        Assert.Equal(alive.LastIndex, (await b.GetAsync(dir + "/alive")).LastIndex);
        Assert.Null(watch.Error);
        Assert.Null(tree.Error);
    }

    [Theory]
    [InlineData("c/other")]
    [InlineData("c/ap")]
    [InlineData("c/app0")]
    public async Task The_same_user_with_a_root_outside_its_prefix_is_Unauthorized_and_nothing_changes(string root)
    {
        await using var admin = await EtcdStore.CreateAsync(etcd.Admin());
        var all = new RangeRequest { Key = ByteString.CopyFromUtf8("\0"), RangeEnd = ByteString.CopyFrom(0), CountOnly = true };
        var before = await admin.Connection.RangeAsync(all, null, CancellationToken.None);

        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", etcd.App(root)));
        Assert.Equal(KvErrorCode.Unauthorized, e.Code);
        Assert.False(e.IsTransient);

        var after = await admin.Connection.RangeAsync(all, null, CancellationToken.None);
        Assert.Equal(before.Count, after.Count);
        Assert.Equal(before.Header.Revision, after.Header.Revision);
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "timed out waiting for " + what);
            await Task.Delay(50);
        }
    }
}
