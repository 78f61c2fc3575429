using System.Diagnostics;
using LibKv.Conformance;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>
/// Issue 8 items 11 and 12 with a real pause: a dev server and a client agent joined to it (two endpoints of one
/// cluster); the client agent is frozen with SIGSTOP while a store uses it.
/// </summary>
public sealed class ConsulPausedAgentTests : IAsyncLifetime
{
    private ConsulServer _server = null!;
    private ConsulServer _agent = null!;

    public async Task InitializeAsync()
    {
        _server = await ConsulServer.StartAsync(dev: true);
        _agent = await ConsulServer.StartClientAsync(_server);
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task A_watch_on_a_paused_agent_moves_to_the_next_endpoint_and_resumes_from_its_last_index()
    {
        var root = "paused/" + Guid.NewGuid().ToString("N");
        await using var direct = new ConsulStore(new StoreOptions { Endpoints = { _server.Endpoint }, Root = root });
        await direct.PutAsync("k", "v1"u8.ToArray());
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { _agent.Endpoint, _server.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(1) });
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        using var tree = new Recorder<IReadOnlyList<KVPair>>(store.WatchTree(""));
        await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v1"u8), "the first state");
        await tree.WaitForLast(l => l.Count == 1, "the first snapshot");

        _agent.Pause();
        try
        {
            await direct.PutAsync("k", "v2"u8.ToArray());
            var v2 = await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v2"u8), "the change made while the watch's agent is paused");
            await tree.WaitForLast(l => l.Count == 1 && l[0].Value.AsSpan().SequenceEqual("v2"u8), "the snapshot with v2");
            await direct.PutAsync("k", "v3"u8.ToArray());
            var v3 = await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v3"u8), "a later change");
            Assert.True(v3!.LastIndex > v2!.LastIndex);
            Assert.Null(watch.Error);
        }
        finally
        {
            _agent.Resume();
        }
    }

    [Fact]
    public async Task A_lock_holder_whose_agent_is_paused_sees_its_hold_lost_before_another_client_acquires()
    {
        var root = "paused/" + Guid.NewGuid().ToString("N");
        var ttl = TimeSpan.FromSeconds(2);
        await using var holder = new ConsulStore(new StoreOptions { Endpoints = { _agent.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(10) });
        await using var other = new ConsulStore(new StoreOptions { Endpoints = { _server.Endpoint }, Root = root });
        var held = holder.NewLock("l", new LockOptions { Ttl = ttl });
        var lost = await held.LockAsync();
        var clock = Stopwatch.StartNew();
        var lostAt = TimeSpan.MaxValue;
        using var registration = lost.Register(() => lostAt = clock.Elapsed);

        _agent.Pause();
        try
        {
            await using var taker = other.NewLock("l", new LockOptions { Ttl = ttl });
            await taker.LockAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            var acquiredAt = clock.Elapsed;

            Assert.True(lost.IsCancellationRequested, $"the paused agent's holder had not seen its loss when another client acquired at {acquiredAt}");
            Assert.True(lostAt < acquiredAt, $"lost at {lostAt}, acquired by another client at {acquiredAt}");
            Assert.False(held.IsHeld);
            Assert.Equal(DateTimeOffset.MinValue, held.HeldUntil);
        }
        finally
        {
            _agent.Resume();
        }

        await held.DisposeAsync();
    }

    [Fact]
    public async Task A_lock_holder_with_a_second_endpoint_keeps_its_hold_through_a_paused_agent()
    {
        var root = "paused/" + Guid.NewGuid().ToString("N");
        var ttl = TimeSpan.FromSeconds(3);

        // RequestTimeout is far above the TTL: renewals must still move on to the server in time.
        await using var holder = new ConsulStore(new StoreOptions { Endpoints = { _agent.Endpoint, _server.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(20) });
        await using var other = new ConsulStore(new StoreOptions { Endpoints = { _server.Endpoint }, Root = root });
        await using var held = holder.NewLock("l", new LockOptions { Ttl = ttl });
        var lost = await held.LockAsync();

        _agent.Pause();
        try
        {
            var pausedAt = DateTimeOffset.UtcNow;
            await ConsulSessionLossTests.Until(() => Task.FromResult(lost.IsCancellationRequested || held.HeldUntil > pausedAt + (2 * ttl)), "renewals confirmed through the server for two TTLs");
            Assert.False(lost.IsCancellationRequested, "the hold was lost although the server answered");
            await using var taker = other.NewLock("l", new LockOptions { Ttl = ttl });
            Assert.False(await taker.TryLockAsync(TimeSpan.FromMilliseconds(500)));
            Assert.True(held.IsHeld);
        }
        finally
        {
            _agent.Resume();
        }
    }
}
