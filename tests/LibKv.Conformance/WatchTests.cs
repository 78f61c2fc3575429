using Xunit;

namespace LibKv.Conformance;

/// <summary>Contract, Watches: initial state, every later state in order, no repeats, expiry, dispose.</summary>
public abstract class WatchTests(IKvFixture fixture) : KvTestBase(fixture)
{
    [Fact]
    public async Task Watch_emits_null_for_a_missing_key_then_each_write_and_delete()
    {
        var clients = await ClientsAsync(2);
        using var watch = new Recorder<KVPair?>(clients[0].Watch("config/app"));
        await watch.WaitFor(i => i.Count == 1 && i[0] is null, "the initial null");
        await clients[1].PutAsync("config/app", Bytes("v1"));
        await watch.WaitForLast(p => p is not null && Text(p.Value) == "v1", "v1");
        await clients[1].PutAsync("config/app", Bytes("v2"));
        var v2 = await watch.WaitForLast(p => p is not null && Text(p.Value) == "v2", "v2");
        Assert.Equal("config/app", v2!.Key);
        Assert.Equal((await clients[1].GetAsync("config/app")).LastIndex, v2.LastIndex);
        await clients[1].DeleteAsync("config/app");
        await watch.WaitForLast(p => p is null, "null after delete");
        Assert.Null(watch.Error);
        Assert.False(watch.Completed);
    }

    [Fact]
    public async Task Watch_emits_the_current_pair_on_subscribe()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("now"));
        using var watch = new Recorder<KVPair?>(store.Watch("/k/"));
        var first = await watch.WaitFor(i => i.Count >= 1, "the initial pair");
        Assert.Equal("now", Text(first[0]!.Value));
        Assert.Equal("k", first[0]!.Key);
    }

    [Fact]
    public async Task A_write_of_the_same_bytes_is_a_new_state()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("same"));
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        var first = (await watch.WaitFor(i => i.Count >= 1, "the initial pair"))[0]!;
        await store.PutAsync("k", Bytes("same"));
        await watch.WaitFor(i => i.Count >= 2 && i[^1]!.LastIndex != first.LastIndex, "the rewrite");
    }

    [Fact]
    public async Task Watch_emits_null_when_the_key_expires()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("short"), new WriteOptions { Ttl = Fixture.Ttl });
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        await watch.WaitFor(i => i.Count >= 1 && i[0] is not null, "the initial pair");
        await watch.WaitForLast(p => p is null, "null after expiry");
    }

    [Fact]
    public async Task Watch_states_are_ordered_without_repeats_and_end_at_the_last_state()
    {
        var clients = await ClientsAsync(2);
        using var watch = new Recorder<KVPair?>(clients[0].Watch("k"));
        await watch.WaitFor(i => i.Count == 1, "the initial null");
        for (var i = 0; i < 30; i++)
        {
            await clients[1].PutAsync("k", Bytes(i.ToString()));
        }

        var last = await clients[1].GetAsync("k");
        var items = await watch.WaitFor(i => i.Count > 1 && i[^1]?.LastIndex == last.LastIndex, "the last write");
        var pairs = items.Skip(1).ToList();
        Assert.All(pairs, Assert.NotNull);
        for (var i = 1; i < pairs.Count; i++)
        {
            Assert.True(pairs[i]!.LastIndex > pairs[i - 1]!.LastIndex, "LastIndex must strictly increase");
            Assert.True(int.Parse(Text(pairs[i]!.Value)) > int.Parse(Text(pairs[i - 1]!.Value)), "states must arrive in order");
        }

        Assert.Equal("29", Text(pairs[^1]!.Value));
    }

    [Fact]
    public async Task Watch_ignores_other_keys()
    {
        var store = await StoreAsync();
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        using var sibling = new Recorder<KVPair?>(store.Watch("k2"));
        await watch.WaitFor(i => i.Count == 1, "the initial null");
        await store.PutAsync("k/child", Bytes("c"));
        await store.PutAsync("k2", Bytes("s"));
        await sibling.WaitForLast(p => p is not null, "the sibling write");
        await store.PutAsync("k", Bytes("mine"));
        var items = await watch.WaitFor(i => i.Count >= 2, "the write of k");
        Assert.Equal(2, items.Count);
        Assert.Null(items[0]);
        Assert.Equal("mine", Text(items[1]!.Value));
    }

    [Fact]
    public async Task Watch_and_WatchTree_validate_when_called()
    {
        var store = await StoreAsync();
        Assert.ThrowsAny<ArgumentException>(() => store.Watch("a//b"));
        Assert.ThrowsAny<ArgumentException>(() => store.Watch(""));
        Assert.ThrowsAny<ArgumentException>(() => store.WatchTree("a/../b"));
        using var all = new Recorder<IReadOnlyList<KVPair>>(store.WatchTree(""));
        await all.WaitFor(i => i.Count == 1 && i[0].Count == 0, "an empty initial snapshot of the whole store");
    }

    [Fact]
    public async Task Each_subscription_is_its_own_watch()
    {
        var store = await StoreAsync();
        var observable = store.Watch("k");
        using var first = new Recorder<KVPair?>(observable);
        await first.WaitFor(i => i.Count == 1, "the first initial state");
        await store.PutAsync("k", Bytes("v"));
        await first.WaitForLast(p => p is not null, "the write");
        using var second = new Recorder<KVPair?>(observable);
        var items = await second.WaitFor(i => i.Count >= 1, "the second initial state");
        Assert.Equal("v", Text(items[0]!.Value));
    }

    [Fact]
    public async Task WatchTree_emits_an_empty_list_then_a_snapshot_after_every_change()
    {
        var clients = await ClientsAsync(2);
        var writer = clients[1];
        using var tree = new Recorder<IReadOnlyList<KVPair>>(clients[0].WatchTree("svc"));
        await tree.WaitFor(i => i.Count == 1 && i[0].Count == 0, "the initial empty snapshot");
        await writer.PutAsync("svc/b", Bytes("1"));
        await tree.WaitForLast(l => Keys(l) == "svc/b", "add b");
        await writer.PutAsync("svc/a/x", Bytes("2"));
        await tree.WaitForLast(l => Keys(l) == "svc/a/x,svc/b", "add a/x");
        var before = (await writer.GetAsync("svc/b")).LastIndex;
        await writer.PutAsync("svc/b", Bytes("1"));
        await tree.WaitForLast(l => l.Count == 2 && l[1].LastIndex != before, "a rewrite of the same bytes");
        await writer.PutAsync("svcX", Bytes("not under"));
        await writer.PutAsync("svc", Bytes("the directory itself"));
        await writer.DeleteAsync("svc/a/x");
        var last = await tree.WaitForLast(l => Keys(l) == "svc/b", "delete a/x");
        Assert.Equal("1", Text(last[0].Value));
        Assert.All(tree.Items, snapshot => Assert.DoesNotContain(snapshot, p => p.Key is "svcX" or "svc"));
        for (var i = 1; i < tree.Items.Count; i++)
        {
            Assert.False(Keys(tree.Items[i]) + Versions(tree.Items[i]) == Keys(tree.Items[i - 1]) + Versions(tree.Items[i - 1]), "the same snapshot twice in a row");
        }
    }

    [Fact]
    public async Task WatchTree_starts_with_the_current_list_and_sees_expiry()
    {
        var store = await StoreAsync();
        await store.PutAsync("svc/permanent", Bytes("p"));
        await store.PutAsync("svc/short", Bytes("s"), new WriteOptions { Ttl = Fixture.Ttl });
        using var tree = new Recorder<IReadOnlyList<KVPair>>(store.WatchTree("svc"));
        var first = await tree.WaitFor(i => i.Count >= 1, "the initial snapshot");
        Assert.Contains("svc/permanent", Keys(first[0]));
        await tree.WaitForLast(l => Keys(l) == "svc/permanent", "the expiry of svc/short");
    }

    [Fact]
    public async Task WatchTree_sees_DeleteTree()
    {
        var store = await StoreAsync();
        await store.PutAsync("d/a", Bytes("1"));
        await store.PutAsync("d/b/c", Bytes("2"));
        using var tree = new Recorder<IReadOnlyList<KVPair>>(store.WatchTree("d"));
        await tree.WaitFor(i => i.Count >= 1 && i[0].Count == 2, "the initial snapshot");
        await store.DeleteTreeAsync("d");
        await tree.WaitForLast(l => l.Count == 0, "an empty snapshot after DeleteTree");
    }

    [Fact]
    public async Task Disposing_a_subscription_stops_it()
    {
        var store = await StoreAsync();
        var stopped = new Recorder<KVPair?>(store.Watch("k"));
        await stopped.WaitFor(i => i.Count == 1, "the initial state");
        stopped.Dispose();
        await store.PutAsync("k", Bytes("after"));
        using var live = new Recorder<KVPair?>(store.Watch("k"));
        await live.WaitFor(i => i.Count >= 1 && i[^1] is not null, "a fresh watch to see the write");
        await store.PutAsync("k", Bytes("again"));
        await live.WaitForLast(p => p is not null && Text(p.Value) == "again", "the second write");
        Assert.Single(stopped.Items);
    }

    [Fact]
    public async Task Disposing_the_store_completes_every_live_watch()
    {
        var store = await StoreAsync();
        var watch = new Recorder<KVPair?>(store.Watch("k"));
        var tree = new Recorder<IReadOnlyList<KVPair>>(store.WatchTree("d"));
        await watch.WaitFor(i => i.Count == 1, "the watch to start");
        await tree.WaitFor(i => i.Count == 1, "the tree watch to start");
        await store.DisposeAsync();
        await Within(watch.Ended.ContinueWith(_ => true), "the watch to complete");
        await Within(tree.Ended.ContinueWith(_ => true), "the tree watch to complete");
        Assert.True(watch.Completed);
        Assert.True(tree.Completed);
        Assert.Null(watch.Error);
    }

    private static string Keys(IReadOnlyList<KVPair> list) => string.Join(",", list.Select(p => p.Key));

    private static string Versions(IReadOnlyList<KVPair> list) => string.Join(",", list.Select(p => p.LastIndex));
}
