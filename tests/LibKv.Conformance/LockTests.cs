using System.Diagnostics;
using Xunit;

namespace LibKv.Conformance;

/// <summary>Contract, Locks: exclusion, order, fencing, loss, renewal, unlock and dispose.</summary>
public abstract class LockTests(IKvFixture fixture) : KvTestBase(fixture)
{
    private LockOptions ShortLease => new() { Ttl = Fixture.Ttl };

    [Fact]
    public async Task A_new_locker_is_not_held()
    {
        var store = await StoreAsync();
        await using var locker = store.NewLock("/locks/job/");
        Assert.Equal("locks/job", locker.Key);
        Assert.False(locker.IsHeld);
        Assert.Equal(0UL, locker.FencingToken);
        Assert.True(locker.LostToken.IsCancellationRequested);
        Assert.False(await store.ExistsAsync("locks/job"));
    }

    [Fact]
    public async Task Lock_holds_writes_the_value_and_unlock_keeps_it()
    {
        var store = await StoreAsync();
        await using var locker = store.NewLock("locks/job", new LockOptions { Value = Bytes("owner-1") });
        var lost = await locker.LockAsync();
        Assert.True(locker.IsHeld);
        Assert.False(lost.IsCancellationRequested);
        Assert.Equal(lost, locker.LostToken);
        Assert.True(locker.FencingToken > 0);
        Assert.Equal("owner-1", Text((await store.GetAsync("locks/job")).Value));
        await locker.UnlockAsync();
        Assert.False(locker.IsHeld);
        Assert.True(lost.IsCancellationRequested);
        Assert.Equal(0UL, locker.FencingToken);
        Assert.Equal("owner-1", Text((await store.GetAsync("locks/job")).Value));
    }

    [Fact]
    public async Task A_lock_without_value_reads_empty_and_DeleteOnUnlock_removes_the_key()
    {
        var store = await StoreAsync();
        await using var locker = store.NewLock("locks/job", new LockOptions { DeleteOnUnlock = true });
        await locker.LockAsync();
        Assert.Empty((await store.GetAsync("locks/job")).Value);
        await locker.UnlockAsync();
        Assert.False(await store.ExistsAsync("locks/job"));
    }

    [Fact]
    public async Task Lock_internals_never_show_in_List_or_WatchTree()
    {
        var store = await StoreAsync();
        await store.PutAsync("app/config", Bytes("c"));
        using var tree = new Recorder<IReadOnlyList<KVPair>>(store.WatchTree(""));
        await using var locker = store.NewLock("app/lock", new LockOptions { Value = Bytes("me") });
        await locker.LockAsync();
        Assert.Equal(new[] { "app/config", "app/lock" }, (await store.ListAsync("")).Select(p => p.Key));
        Assert.Equal(new[] { "app/config", "app/lock" }, (await store.ListAsync("app")).Select(p => p.Key));
        await tree.WaitForLast(l => l.Count == 2, "the lock key in the tree");
        Assert.All(tree.Items, l => Assert.All(l, p => Assert.StartsWith("app/", p.Key)));
    }

    [Fact]
    public async Task Only_one_holder_at_a_time_and_fencing_tokens_increase()
    {
        var clients = await ClientsAsync(2);
        await using var first = clients[0].NewLock("locks/job");
        await using var second = clients[1].NewLock("locks/job");
        await first.LockAsync();
        var token1 = first.FencingToken;
        Assert.False(await second.TryLockAsync(TimeSpan.FromMilliseconds(300)));
        Assert.False(second.IsHeld);
        var waiting = second.LockAsync().AsTask();
        await first.UnlockAsync();
        await Within(waiting, "the second locker to get the lock");
        Assert.True(second.IsHeld);
        Assert.True(second.FencingToken > token1);
        await second.UnlockAsync();
        await first.LockAsync();
        Assert.True(first.FencingToken > token1);
    }

    [Fact]
    public async Task Waiters_each_get_the_lock_in_turn()
    {
        var clients = await ClientsAsync(4);
        await using var holder = clients[0].NewLock("locks/q");
        await holder.LockAsync();
        var order = new List<int>();
        var inside = 0;
        var lockers = new List<ILocker>();
        var tasks = new List<Task>();
        for (var i = 1; i <= 3; i++)
        {
            var locker = clients[i].NewLock("locks/q");
            lockers.Add(locker);
            var n = i;
            tasks.Add(Task.Run(async () =>
            {
                await locker.LockAsync();
                Assert.Equal(1, Interlocked.Increment(ref inside));
                lock (order)
                {
                    order.Add(n);
                }

                await Task.Delay(50);
                Interlocked.Decrement(ref inside);
                await locker.UnlockAsync();
            }));

            // Let this waiter queue before the next one starts, so arrival order is known.
            await Task.Delay(300);
        }

        await holder.UnlockAsync();
        await Within(Task.WhenAll(tasks).ContinueWith(t => t), "every waiter to get the lock");
        await Task.WhenAll(tasks);
        Assert.Equal(3, order.Count);
        if (Fixture.OrdersLockWaiters)
        {
            Assert.Equal(new[] { 1, 2, 3 }, order);
        }

        foreach (var locker in lockers)
        {
            await locker.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_cancelled_wait_throws_and_leaves_nothing_behind()
    {
        var clients = await ClientsAsync(3);
        await using var holder = clients[0].NewLock("locks/c");
        await using var cancelled = clients[1].NewLock("locks/c");
        await using var next = clients[2].NewLock("locks/c");
        await holder.LockAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cancelled.LockAsync(cts.Token));
        Assert.False(cancelled.IsHeld);
        var waiting = next.LockAsync().AsTask();
        await holder.UnlockAsync();
        await Within(waiting, "the next waiter to get the lock past the cancelled one");
        Assert.True(next.IsHeld);
        Assert.False(cancelled.IsHeld);
    }

    [Fact]
    public async Task TryLock_returns_false_after_the_timeout_and_true_when_free()
    {
        var clients = await ClientsAsync(2);
        await using var holder = clients[0].NewLock("locks/t");
        await using var other = clients[1].NewLock("locks/t");
        Assert.True(await holder.TryLockAsync(TimeSpan.FromSeconds(5)));
        var watch = Stopwatch.StartNew();
        Assert.False(await other.TryLockAsync(TimeSpan.FromMilliseconds(500)));
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(450), "TryLock gave up before its timeout");
        Assert.False(other.IsHeld);
        Assert.True(other.LostToken.IsCancellationRequested);
        await holder.UnlockAsync();
        Assert.False(await other.TryLockAsync(TimeSpan.Zero));
        Assert.True(await other.TryLockAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Locks_are_not_reentrant_and_unlock_when_not_held_throws()
    {
        var store = await StoreAsync();
        await using var locker = store.NewLock("locks/r");
        var e = await Assert.ThrowsAsync<KvException>(async () => await locker.UnlockAsync());
        Assert.Equal(KvErrorCode.LockNotHeld, e.Code);
        await locker.LockAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await locker.LockAsync());
        Assert.True(locker.IsHeld);
        await locker.UnlockAsync();
        Assert.Equal(KvErrorCode.LockNotHeld, (await Assert.ThrowsAsync<KvException>(async () => await locker.UnlockAsync())).Code);
        await locker.LockAsync();
        Assert.True(locker.IsHeld);
    }

    [Fact]
    public async Task An_unlock_cancelled_before_it_starts_changes_nothing()
    {
        var clients = await ClientsAsync(2);
        await using var locker = clients[0].NewLock("locks/u", new LockOptions { DeleteOnUnlock = true });
        var lost = await locker.LockAsync();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await locker.UnlockAsync(cancelled.Token));
        Assert.True(locker.IsHeld);
        Assert.False(lost.IsCancellationRequested);
        Assert.True(await clients[1].ExistsAsync("locks/u"));
        await using var other = clients[1].NewLock("locks/u");
        Assert.False(await other.TryLockAsync(TimeSpan.FromMilliseconds(300)));
        await locker.UnlockAsync();
        Assert.True(lost.IsCancellationRequested);
        Assert.True(await other.TryLockAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Disposing_a_held_locker_frees_the_lock_at_once()
    {
        var clients = await ClientsAsync(2);
        var locker = clients[0].NewLock("locks/d", new LockOptions { Ttl = TimeSpan.FromSeconds(30) });
        var lost = await locker.LockAsync();
        await using var other = clients[1].NewLock("locks/d");
        var waiting = other.LockAsync().AsTask();
        await locker.DisposeAsync();
        Assert.True(lost.IsCancellationRequested);
        await Within(waiting, "the lock to pass on after dispose (well before the 30 s lease)");
    }

    [Fact]
    public async Task Disposing_the_store_frees_its_locks()
    {
        var clients = await ClientsAsync(2);
        var locker = clients[0].NewLock("locks/s", new LockOptions { Ttl = TimeSpan.FromSeconds(30) });
        var lost = await locker.LockAsync();
        await using var other = clients[1].NewLock("locks/s");
        var waiting = other.LockAsync().AsTask();
        await clients[0].DisposeAsync();
        Assert.True(lost.IsCancellationRequested);
        await Within(waiting, "the lock to pass on after the store is disposed");
    }

    [Fact]
    public async Task The_lease_is_renewed_while_held()
    {
        var clients = await ClientsAsync(2);
        await using var holder = clients[0].NewLock("locks/renew", ShortLease);
        var lost = await holder.LockAsync();
        await using var other = clients[1].NewLock("locks/renew", ShortLease);
        Assert.False(await other.TryLockAsync((2 * Fixture.Ttl) + TimeSpan.FromSeconds(1.5)));
        Assert.True(holder.IsHeld);
        Assert.False(lost.IsCancellationRequested);
    }

    [Fact]
    public async Task A_lost_session_cancels_the_hold_and_another_waiter_takes_the_lock()
    {
        var clients = await ClientsAsync(2);
        await using var holder = clients[0].NewLock("locks/lost", ShortLease);
        var lost = await holder.LockAsync();
        var fencing = holder.FencingToken;
        await using var other = clients[1].NewLock("locks/lost", ShortLease);
        var waiting = other.LockAsync().AsTask();
        await Fixture.ExpireSessionAsync(clients[0]);
        await Eventually(() => Task.FromResult(lost.IsCancellationRequested), "the lost token to fire");
        Assert.False(holder.IsHeld);
        Assert.Equal(0UL, holder.FencingToken);
        await Within(waiting, "the other waiter to take the lost lock");
        Assert.True(other.FencingToken > fencing);
        Assert.Equal(KvErrorCode.LockNotHeld, (await Assert.ThrowsAsync<KvException>(async () => await holder.UnlockAsync())).Code);
    }

    [Fact]
    public async Task Invalid_lock_options_are_rejected()
    {
        var store = await StoreAsync();
        Assert.ThrowsAny<ArgumentException>(() => store.NewLock("k", new LockOptions { Ttl = TimeSpan.Zero }));
        await using var locker = store.NewLock("k");
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await locker.TryLockAsync(TimeSpan.FromSeconds(-2)));
        Assert.False(locker.IsHeld);
    }
}
