using System.Diagnostics;
using System.Text;
using LibKv.Conformance;
using Microsoft.Extensions.Logging;
using Xunit;

namespace LibKv.Etcd.Tests;

/// <summary>Connection state and outage logs, with the store cut off by a loopback proxy.</summary>
public sealed class EtcdStateTests : IClassFixture<EtcdFixture>
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Text(KVPair? pair) => pair is null ? null : Encoding.UTF8.GetString(pair.Value);

    [Fact]
    public async Task States_go_Suspended_when_cut_off_Reconnected_when_back_and_SessionLost_then_Reconnected_when_a_kept_lease_ends()
    {
        var server = await EtcdFixture.SharedServerAsync();
        await using var proxy = new TcpProxy(server.ClientPort);
        var root = "t/" + Guid.NewGuid().ToString("N");
        await using var store = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { proxy.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(2) });
        await using var observer = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        var states = new Recorder<StoreState>(store.States);
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        await watch.WaitFor(items => items.Count > 0, "the first state");
        await states.WaitFor(s => s.Count > 0 && s[0] == StoreState.Connected, "Connected on subscribe");

        proxy.Block();
        try
        {
            await states.WaitFor(s => s[^1] == StoreState.Suspended, "Suspended while cut off", TimeSpan.FromSeconds(20));
        }
        finally
        {
            proxy.Unblock();
        }

        await states.WaitFor(s => s[^1] == StoreState.Reconnected, "Reconnected when back", TimeSpan.FromSeconds(20));
        await observer.PutAsync("k", Bytes("v"));
        await watch.WaitFor(items => Text(items[^1]) == "v", "the watch to go on", TimeSpan.FromSeconds(20));

        // A kept lease ends (revoked from outside): SessionLost, then Reconnected once the key is written again.
        await store.PutAsync("svc", Bytes("s"), new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true });
        var lease = Assert.Single(store.LeaseIds);
        await using (var admin = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint } }))
        {
            await admin.Connection.RevokeAsync(lease, CancellationToken.None);
        }

        await states.WaitFor(s => s.Contains(StoreState.SessionLost), "SessionLost", TimeSpan.FromSeconds(20));
        await states.WaitFor(s => s[^1] == StoreState.Reconnected && s.ToList().IndexOf(StoreState.SessionLost) < s.Count - 1, "Reconnected after the session loss", TimeSpan.FromSeconds(20));
        Assert.True(await observer.ExistsAsync("svc"), "Reconnected comes once the keep-alive key is back");
        Assert.Equal(
            [StoreState.Connected, StoreState.Suspended, StoreState.Reconnected, StoreState.SessionLost, StoreState.Reconnected],
            states.Items);

        await store.DisposeAsync();
        await states.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(StoreState.Closed, states.Items[^1]);
    }

    [Fact]
    public async Task An_outage_logs_one_Warning_naming_the_endpoint_retries_at_Debug_and_one_Information_with_its_length()
    {
        var server = await EtcdFixture.SharedServerAsync();
        await using var proxy = new TcpProxy(server.ClientPort);
        var root = "t/" + Guid.NewGuid().ToString("N");
        var log = new CapturingLoggerFactory();
        await using var store = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { proxy.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(2), LoggerFactory = log });
        await using var observer = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await store.PutAsync("svc", Bytes("s"), new WriteOptions { Ttl = TimeSpan.FromSeconds(30), KeepAlive = true });
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        await watch.WaitFor(items => items.Count > 0, "the first state");
        await EventuallyAsync(() => store.Hub.StreamEndpoint is not null && store.Keeper.StreamEndpoint is not null, "both streams to be open");
        var before = log.Entries.Count;

        proxy.Block();
        try
        {
            // A long outage: many reconnect attempts by both streams.
            await EventuallyAsync(() => log.Entries.Skip(before).Count(e => e.Level == LogLevel.Debug && e.Message.Contains("attempt", StringComparison.Ordinal)) >= 12, "a dozen retries", TimeSpan.FromSeconds(40));
        }
        finally
        {
            proxy.Unblock();
        }

        await observer.PutAsync("k", Bytes("v"));
        await watch.WaitFor(items => Text(items[^1]) == "v", "the watch to go on", TimeSpan.FromSeconds(20));
        await EventuallyAsync(() => log.Entries.Skip(before).Count(e => e.Level == LogLevel.Information) >= 2, "the recovery of both streams", TimeSpan.FromSeconds(20));
        var outage = log.Entries.Skip(before).ToArray();
        var warnings = outage.Where(e => e.Level == LogLevel.Warning).ToArray();
        var infos = outage.Where(e => e.Level == LogLevel.Information).ToArray();
        Assert.InRange(warnings.Length, 1, 3);
        Assert.All(warnings, w => Assert.Contains(proxy.Endpoint, w.Message, StringComparison.Ordinal));
        Assert.InRange(infos.Length, 1, 3);
        Assert.All(infos, i => Assert.Contains("after an outage of", i.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task HeldUntil_follows_confirmed_renewals_and_a_cut_off_holder_knows_it_lost_before_another_client_acquires()
    {
        var server = await EtcdFixture.SharedServerAsync();
        await using var proxy = new TcpProxy(server.ClientPort);
        var root = "t/" + Guid.NewGuid().ToString("N");
        await using var holderStore = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { proxy.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(2) });
        await using var otherStore = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        var lockOptions = new LockOptions { Ttl = TimeSpan.FromSeconds(2) };
        await using var holder = holderStore.NewLock("lock", lockOptions);
        Assert.Equal(DateTimeOffset.MinValue, holder.HeldUntil);
        var lost = await holder.LockAsync();
        var first = holder.HeldUntil;
        var now = DateTimeOffset.UtcNow;

        // The lease TTL (3 s for a 2 s lock, less a margin) counted from when the grant or a renewal was sent.
        Assert.InRange(first, now, now + TimeSpan.FromSeconds(3.5));
        await EventuallyAsync(() => holder.HeldUntil > first, "a confirmed renewal to extend the hold");

        long lostAt = 0;
        using var onLost = lost.Register(() => Interlocked.Exchange(ref lostAt, Stopwatch.GetTimestamp()));
        await using var other = otherStore.NewLock("lock", lockOptions);
        proxy.Block();
        try
        {
            var heldUntil = holder.HeldUntil;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await other.LockAsync(cts.Token);
            var acquiredAt = Stopwatch.GetTimestamp();
            Assert.True(lost.IsCancellationRequested, "the holder must know it lost the lock before another client holds it");
            Assert.True(Interlocked.Read(ref lostAt) < acquiredAt);
            Assert.False(holder.IsHeld);
            Assert.Equal(DateTimeOffset.MinValue, holder.HeldUntil);
            Assert.True(DateTimeOffset.UtcNow >= heldUntil - TimeSpan.FromMilliseconds(100), "the hold was certain until HeldUntil");
        }
        finally
        {
            proxy.Unblock();
        }
    }

    private static async Task EventuallyAsync(Func<bool> condition, string what, TimeSpan? deadline = null)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < (deadline ?? TimeSpan.FromSeconds(20)), "timed out waiting for " + what);
            await Task.Delay(50);
        }
    }
}
