using LibKv.Coordination;
using Xunit;

namespace LibKv.Conformance;

/// <summary>DistributedSemaphore: at most maxCount live leases; a freed or lost lease lets the next one in.</summary>
public abstract class SemaphoreTests(IKvFixture fixture) : KvTestBase(fixture)
{
    [Fact]
    public async Task At_most_max_count_leases_and_a_disposed_one_lets_the_next_in()
    {
        var clients = await ClientsAsync(3);
        var sems = clients.Select(c => new DistributedSemaphore(c, "sems/s1", 2, Fixture.Ttl)).ToArray();
        var first = await Within(sems[0].AcquireAsync().AsTask(), "the first lease");
        await using var second = await Within(sems[1].AcquireAsync().AsTask(), "the second lease");
        Assert.NotEqual(0UL, first.FencingToken);
        Assert.Null(await sems[2].TryAcquireAsync(TimeSpan.FromMilliseconds(500)));

        var third = sems[2].AcquireAsync().AsTask();
        await Task.Delay(300);
        Assert.False(third.IsCompleted);
        await first.DisposeAsync();
        Assert.True(first.LostToken.IsCancellationRequested);
        await using var lease = await Within(third, "the third lease after one was freed");
        Assert.True(lease.IsHeld);
        Assert.False(lease.LostToken.IsCancellationRequested);
    }

    [Fact]
    public async Task A_lease_whose_session_is_lost_is_told_and_its_slot_frees()
    {
        var clients = await ClientsAsync(2);
        var lost = await Within(new DistributedSemaphore(clients[0], "sems/s2", 1, Fixture.Ttl).AcquireAsync().AsTask(), "the only lease");
        var waiting = new DistributedSemaphore(clients[1], "sems/s2", 1, Fixture.Ttl).AcquireAsync().AsTask();
        await Fixture.ExpireSessionAsync(clients[0]);
        await Eventually(() => Task.FromResult(lost.LostToken.IsCancellationRequested), "the lease to be told it is lost");
        await using var next = await Within(waiting, "the slot to free after the holder's session ended");
        Assert.True(next.IsHeld);
    }

    [Fact]
    public async Task Bad_arguments_are_rejected()
    {
        var store = await StoreAsync();
        Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedSemaphore(store, "s", 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedSemaphore(store, "s", 1, TimeSpan.Zero));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await new DistributedSemaphore(store, "s", 1).TryAcquireAsync(TimeSpan.FromSeconds(-2)));
    }
}
