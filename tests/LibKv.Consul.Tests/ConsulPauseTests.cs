using System.Diagnostics;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>Issue 8 item 13: with the agent paused (SIGSTOP), unlock and dispose are bounded by RequestTimeout.</summary>
public sealed class ConsulPauseTests : IAsyncLifetime
{
    private ConsulServer _server = null!;

    public async Task InitializeAsync() => _server = await ConsulServer.StartAsync(dev: true);

    public async Task DisposeAsync()
    {
        _server.Resume();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Unlock_and_dispose_with_the_agent_paused_each_take_one_request_timeout()
    {
        var timeout = TimeSpan.FromSeconds(3);
        var store = new ConsulStore(new StoreOptions { Endpoints = { _server.Endpoint }, Root = "pause", RequestTimeout = timeout });
        var locker = store.NewLock("l", new LockOptions { Ttl = TimeSpan.FromSeconds(30) });
        var lost = await locker.LockAsync();
        await using (var other = store.NewLock("m", new LockOptions { Ttl = TimeSpan.FromSeconds(30) }))
        {
            await other.LockAsync();
            await store.PutAsync("ka", "v"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(30), KeepAlive = true });

            _server.Pause();
            var clock = Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<KvException>(async () => await locker.UnlockAsync());
            var unlockTook = clock.Elapsed;
            Assert.Equal(KvErrorCode.Unavailable, e.Code);
            Assert.True(lost.IsCancellationRequested);
            Assert.False(locker.IsHeld);

            // Before: the session was destroyed twice, one RequestTimeout each.
            Assert.True(unlockTook < timeout + TimeSpan.FromSeconds(2), $"UnlockAsync took {unlockTook} with RequestTimeout {timeout}");

            clock.Restart();
            await store.DisposeAsync();
            Assert.True(clock.Elapsed < timeout + TimeSpan.FromSeconds(2), $"DisposeAsync took {clock.Elapsed} with RequestTimeout {timeout}");
        }

        _server.Resume();
    }

    [Fact]
    public async Task A_write_to_a_paused_agent_is_outcome_unknown_and_can_be_applied_when_it_resumes()
    {
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { _server.Endpoint }, Root = "late", RequestTimeout = TimeSpan.FromSeconds(1) });
        await store.PutAsync("k", "old"u8.ToArray());

        _server.Pause();
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("k", "late"u8.ToArray()));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.True(e.OutcomeUnknown, "the request reached the paused agent's socket: its outcome is unknown");
        _server.Resume();

        // The agent processes what it had queued: the "failed" write lands after the fact (docs/backends/consul.md).
        await ConsulSessionLossTests.Until(async () => (await store.GetAsync("k")).Value.AsSpan().SequenceEqual("late"u8), "the queued write to be applied late");
    }
}
