using System.Text;
using LibKv.Conformance;
using LibKv.Memory;
using Xunit;

namespace LibKv.Tests;

/// <summary>Memory-specific behaviour: fake clock TTLs, data spaces, and concurrency.</summary>
public sealed class MemoryStoreTests
{
    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task Ttl_follows_an_injected_clock_exactly()
    {
        var time = new ManualTimeProvider();
        await using var store = new MemoryStore(new StoreOptions { TimeProvider = time });
        await store.PutAsync("k", Bytes("v"), new WriteOptions { Ttl = TimeSpan.FromSeconds(10) });
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        await watch.WaitFor(i => i.Count == 1 && i[0] is not null, "the initial pair");
        time.Advance(TimeSpan.FromSeconds(9.999));
        Assert.True(await store.ExistsAsync("k"));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(await store.ExistsAsync("k"));
        await watch.WaitForLast(p => p is null, "null after expiry on the fake clock");
    }

    [Fact]
    public async Task Keep_alive_keys_outlive_any_time_until_their_store_is_disposed_then_vanish_at_once()
    {
        var time = new ManualTimeProvider();
        var space = Guid.NewGuid().ToString("N");
        var owner = new MemoryStore(new StoreOptions { TimeProvider = time, Endpoints = { space } });
        await using var observer = new MemoryStore(new StoreOptions { TimeProvider = time, Endpoints = { space } });
        await owner.PutAsync("svc/1", Bytes("up"), new WriteOptions { Ttl = TimeSpan.FromSeconds(5), KeepAlive = true });
        time.Advance(TimeSpan.FromHours(1));
        Assert.True(await observer.ExistsAsync("svc/1"));
        await owner.PutAsync("plain", Bytes("stays"));
        await owner.DisposeAsync();
        Assert.False(await observer.ExistsAsync("svc/1"));
        Assert.True(await observer.ExistsAsync("plain"));
    }

    [Fact]
    public async Task A_timer_expires_keys_nobody_reads()
    {
        var time = new ManualTimeProvider();
        await using var store = new MemoryStore(new StoreOptions { TimeProvider = time });
        await store.PutAsync("a", Bytes("1"), new WriteOptions { Ttl = TimeSpan.FromSeconds(1) });
        await store.PutAsync("b", Bytes("2"), new WriteOptions { Ttl = TimeSpan.FromSeconds(2) });
        using var tree = new Recorder<IReadOnlyList<KVPair>>(store.WatchTree(""));
        await tree.WaitFor(i => i.Count == 1 && i[0].Count == 2, "both keys");
        time.Advance(TimeSpan.FromSeconds(1));
        await tree.WaitForLast(l => l.Count == 1 && l[0].Key == "b", "a expired by the timer");
        time.Advance(TimeSpan.FromSeconds(1));
        await tree.WaitForLast(l => l.Count == 0, "b expired by the timer");
    }

    [Fact]
    public async Task Stores_without_an_endpoint_are_private_and_named_ones_share_until_all_are_disposed()
    {
        await using (var a = new MemoryStore())
        await using (var b = new MemoryStore())
        {
            await a.PutAsync("k", Bytes("a"));
            Assert.False(await b.ExistsAsync("k"));
        }

        var name = "space-" + Guid.NewGuid().ToString("N");
        var first = new MemoryStore(new StoreOptions { Endpoints = { name } });
        var second = new MemoryStore(new StoreOptions { Endpoints = { name } });
        await first.PutAsync("k", Bytes("shared"));
        Assert.Equal("shared", Encoding.UTF8.GetString((await second.GetAsync("k")).Value));
        await first.DisposeAsync();
        Assert.True(await second.ExistsAsync("k"));
        await second.DisposeAsync();
        await using var third = new MemoryStore(new StoreOptions { Endpoints = { name } });
        Assert.False(await third.ExistsAsync("k"));
    }

    [Fact]
    public async Task Roots_partition_one_space()
    {
        var name = "space-" + Guid.NewGuid().ToString("N");
        await using var plain = new MemoryStore(new StoreOptions { Endpoints = { name } });
        await using var rooted = new MemoryStore(new StoreOptions { Endpoints = { name }, Root = "/tenant/a/" });
        await rooted.PutAsync("k", Bytes("v"));
        Assert.Equal("k", (await rooted.GetAsync("k")).Key);
        Assert.Equal(new[] { "k" }, (await rooted.ListAsync("")).Select(p => p.Key));
        Assert.Equal(new[] { "tenant/a/k" }, (await plain.ListAsync("")).Select(p => p.Key));
        await plain.PutAsync("tenant/ab", Bytes("outside"));
        Assert.Equal(new[] { "k" }, (await rooted.ListAsync("")).Select(p => p.Key));
    }

    [Fact]
    public async Task Eight_tasks_hammering_AtomicPut_lose_no_increment()
    {
        const int tasks = 8;
        const int perTask = 500;
        await using var store = new MemoryStore();
        await store.PutAsync("counter", BitConverter.GetBytes(0L));
        var conflicts = 0L;
        await Task.WhenAll(Enumerable.Range(0, tasks).Select(_ => Task.Run(async () =>
        {
            for (var done = 0; done < perTask;)
            {
                var current = await store.GetAsync("counter");
                var next = BitConverter.ToInt64(current.Value) + 1;
                try
                {
                    await store.AtomicPutAsync("counter", BitConverter.GetBytes(next), current);
                    done++;
                }
                catch (KvException e) when (e.Code == KvErrorCode.KeyModified)
                {
                    Interlocked.Increment(ref conflicts);
                }
            }
        })));
        Assert.Equal(tasks * perTask, BitConverter.ToInt64((await store.GetAsync("counter")).Value));
    }

    [Fact]
    public async Task Lock_waiters_are_served_in_arrival_order()
    {
        await using var store = new MemoryStore();
        await using var holder = store.NewLock("l");
        await holder.LockAsync();
        var lockers = Enumerable.Range(0, 5).Select(_ => store.NewLock("l")).ToArray();
        var order = new List<int>();
        var tasks = lockers.Select((l, i) => Task.Run(async () =>
        {
            await l.LockAsync();
            lock (order)
            {
                order.Add(i);
            }

            await l.UnlockAsync();
        })).ToArray();
        // The tasks race to queue; the queue itself records who arrived first.
        var queued = store.Space;
        var until = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            lock (queued.Gate)
            {
                if (queued.LockQueueOf("l").Waiters.Count == lockers.Length)
                {
                    break;
                }
            }

            Assert.True(DateTime.UtcNow < until, "the waiters never all queued");
            await Task.Delay(10);
        }

        var arrival = new List<int>();
        lock (queued.Gate)
        {
            foreach (var waiter in queued.LockQueueOf("l").Waiters)
            {
                arrival.Add(Array.IndexOf(lockers, waiter.Locker));
            }
        }

        await holder.UnlockAsync();
        await Task.WhenAll(tasks);
        Assert.Equal(arrival, order);
        foreach (var l in lockers)
        {
            await l.DisposeAsync();
        }
    }

    [Fact]
    public async Task ExpireSession_loses_locks_and_writes_keep_alive_keys_again()
    {
        var name = Guid.NewGuid().ToString("N");
        await using var a = new MemoryStore(new StoreOptions { Endpoints = { name } });
        await using var b = new MemoryStore(new StoreOptions { Endpoints = { name } });
        await a.PutAsync("svc", Bytes("x"), new WriteOptions { Ttl = TimeSpan.FromSeconds(30), KeepAlive = true });
        await using var locker = a.NewLock("l");
        var lost = await locker.LockAsync();
        var before = await b.GetAsync("svc");
        a.ExpireSession();
        Assert.True(lost.IsCancellationRequested);
        Assert.False(locker.IsHeld);
        Assert.True((await b.GetAsync("svc")).LastIndex > before.LastIndex);
        await using var other = b.NewLock("l");
        Assert.True(await other.TryLockAsync(TimeSpan.FromSeconds(5)));
    }
}
