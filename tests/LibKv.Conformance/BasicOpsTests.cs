using Xunit;

namespace LibKv.Conformance;

/// <summary>Contract, Operations: Put, Get, Delete, Exists, List, DeleteTree, flat keyspace and versions.</summary>
public abstract class BasicOpsTests(IKvFixture fixture) : KvTestBase(fixture)
{
    [Fact]
    public async Task Put_then_Get_returns_the_value_with_a_positive_LastIndex()
    {
        var store = await StoreAsync();
        await store.PutAsync("greeting", Bytes("hello"));
        var pair = await store.GetAsync("greeting");
        Assert.Equal("greeting", pair.Key);
        Assert.Equal("hello", Text(pair.Value));
        Assert.True(pair.LastIndex > 0);
        Assert.Equal(Fixture.Backend, store.Backend);
    }

    [Fact]
    public async Task Put_overwrites_and_changes_LastIndex_even_for_the_same_bytes()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("one"));
        var first = await store.GetAsync("k");
        await store.PutAsync("k", Bytes("one"));
        var second = await store.GetAsync("k");
        await store.PutAsync("k", Bytes("two"));
        var third = await store.GetAsync("k");
        Assert.NotEqual(first.LastIndex, second.LastIndex);
        Assert.NotEqual(second.LastIndex, third.LastIndex);
        Assert.Equal("two", Text(third.Value));
    }

    [Fact]
    public async Task Empty_and_binary_values_round_trip()
    {
        var store = await StoreAsync();
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        await store.PutAsync("empty", ReadOnlyMemory<byte>.Empty);
        await store.PutAsync("binary", all);
        var empty = await store.GetAsync("empty");
        Assert.NotNull(empty.Value);
        Assert.Empty(empty.Value);
        Assert.Equal(all, (await store.GetAsync("binary")).Value);
        Assert.True(await store.ExistsAsync("empty"));
    }

    [Fact]
    public async Task Values_are_copied_in_and_out()
    {
        var store = await StoreAsync();
        var input = Bytes("abc");
        await store.PutAsync("k", input);
        input[0] = (byte)'X';
        var read = await store.GetAsync("k");
        read.Value[1] = (byte)'Y';
        Assert.Equal("abc", Text((await store.GetAsync("k")).Value));
    }

    [Fact]
    public async Task Get_of_a_missing_key_throws_KeyNotFound_naming_the_key()
    {
        var store = await StoreAsync();
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.GetAsync("missing/key"));
        Assert.Equal(KvErrorCode.KeyNotFound, e.Code);
        Assert.Equal("missing/key", e.Key);
        Assert.False(e.IsTransient);
    }

    [Fact]
    public async Task Delete_removes_the_key_and_throws_KeyNotFound_when_missing()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("v"));
        await store.DeleteAsync("k");
        Assert.False(await store.ExistsAsync("k"));
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.DeleteAsync("k"));
        Assert.Equal(KvErrorCode.KeyNotFound, e.Code);
    }

    [Fact]
    public async Task Exists_tells_presence_without_throwing()
    {
        var store = await StoreAsync();
        Assert.False(await store.ExistsAsync("k"));
        await store.PutAsync("k", Bytes("v"));
        Assert.True(await store.ExistsAsync("k"));
        await store.DeleteAsync("k");
        Assert.False(await store.ExistsAsync("k"));
    }

    [Fact]
    public async Task The_keyspace_is_flat()
    {
        var store = await StoreAsync();
        await store.PutAsync("a/b/c", Bytes("deep"));
        Assert.Equal(KvErrorCode.KeyNotFound, (await Assert.ThrowsAsync<KvException>(async () => await store.GetAsync("a/b"))).Code);
        Assert.False(await store.ExistsAsync("a"));
        Assert.Equal(new[] { "a/b/c" }, (await store.ListAsync("a")).Select(p => p.Key));
        Assert.Equal(KvErrorCode.KeyNotFound, (await Assert.ThrowsAsync<KvException>(async () => await store.DeleteAsync("a"))).Code);
        Assert.Equal("deep", Text((await store.GetAsync("a/b/c")).Value));
    }

    [Fact]
    public async Task A_key_and_keys_under_it_live_side_by_side()
    {
        var store = await StoreAsync();
        await store.PutAsync("a", Bytes("parent"));
        await store.PutAsync("a/b", Bytes("child"));
        Assert.Equal("parent", Text((await store.GetAsync("a")).Value));
        await store.DeleteAsync("a");
        Assert.Equal("child", Text((await store.GetAsync("a/b")).Value));
        Assert.False(await store.ExistsAsync("a"));
        await store.PutAsync("a", ReadOnlyMemory<byte>.Empty);
        Assert.Empty((await store.GetAsync("a")).Value);
        await store.DeleteAsync("a/b");
        Assert.Empty((await store.GetAsync("a")).Value);
        Assert.Empty(await store.ListAsync("a"));
    }

    [Fact]
    public async Task List_is_recursive_sorted_ordinally_and_excludes_the_directory_and_siblings()
    {
        var store = await StoreAsync();
        foreach (var key in new[] { "d/z", "d/a/deep/er", "d/B", "d", "dX", "d-1/a", "e/a", "d/a" })
        {
            await store.PutAsync(key, Bytes(key));
        }

        var list = await store.ListAsync("d");
        Assert.Equal(new[] { "d/B", "d/a", "d/a/deep/er", "d/z" }, list.Select(p => p.Key));
        Assert.All(list, p => Assert.Equal(p.Key, Text(p.Value)));
        Assert.All(list, p => Assert.True(p.LastIndex > 0));
        Assert.Equal(new[] { "d/a/deep/er" }, (await store.ListAsync("d/a")).Select(p => p.Key));
    }

    [Fact]
    public async Task List_of_nothing_throws_KeyNotFound_and_of_a_lone_key_returns_empty()
    {
        var store = await StoreAsync();
        Assert.Equal(KvErrorCode.KeyNotFound, (await Assert.ThrowsAsync<KvException>(async () => await store.ListAsync("nothing"))).Code);
        Assert.Equal(KvErrorCode.KeyNotFound, (await Assert.ThrowsAsync<KvException>(async () => await store.ListAsync(""))).Code);
        await store.PutAsync("lone", Bytes("x"));
        await store.PutAsync("loner/x", Bytes("x"));
        Assert.Empty(await store.ListAsync("lone"));
    }

    [Fact]
    public async Task List_of_the_root_returns_the_whole_store()
    {
        var store = await StoreAsync();
        await store.PutAsync("b", Bytes("2"));
        await store.PutAsync("a/x", Bytes("1"));
        await store.PutAsync("c/y/z", Bytes("3"));
        Assert.Equal(new[] { "a/x", "b", "c/y/z" }, (await store.ListAsync("")).Select(p => p.Key));
        Assert.Equal(new[] { "a/x", "b", "c/y/z" }, (await store.ListAsync("", new ReadOptions { Consistent = false })).Select(p => p.Key));
    }

    [Fact]
    public async Task DeleteTree_removes_the_directory_and_everything_under_it_and_nothing_else()
    {
        var store = await StoreAsync();
        foreach (var key in new[] { "d", "d/a", "d/b/c", "dX", "d-1", "e" })
        {
            await store.PutAsync(key, Bytes(key));
        }

        await store.DeleteTreeAsync("d");
        Assert.Equal(new[] { "d-1", "dX", "e" }, (await store.ListAsync("")).Select(p => p.Key));
        Assert.Equal(KvErrorCode.KeyNotFound, (await Assert.ThrowsAsync<KvException>(async () => await store.DeleteTreeAsync("d"))).Code);
    }

    [Fact]
    public async Task DeleteTree_works_without_the_directory_key_and_with_only_it()
    {
        var store = await StoreAsync();
        await store.PutAsync("t/a", Bytes("1"));
        await store.PutAsync("t/b/c", Bytes("2"));
        await store.DeleteTreeAsync("t");
        Assert.False(await store.ExistsAsync("t/a"));
        Assert.False(await store.ExistsAsync("t/b/c"));
        await store.PutAsync("only", Bytes("1"));
        await store.DeleteTreeAsync("only");
        Assert.False(await store.ExistsAsync("only"));
    }

    [Fact]
    public async Task LastIndex_is_never_reused_across_delete_and_recreate()
    {
        var store = await StoreAsync();
        var seen = new HashSet<ulong>();
        for (var i = 0; i < 5; i++)
        {
            await store.PutAsync("k", Bytes("same"));
            var pair = await store.GetAsync("k");
            Assert.True(pair.LastIndex > 0);
            Assert.True(seen.Add(pair.LastIndex), $"LastIndex {pair.LastIndex} reused");
            await store.DeleteAsync("k");
        }
    }

    [Fact]
    public async Task Clients_of_one_store_see_each_others_writes()
    {
        var clients = await ClientsAsync(2);
        await clients[0].PutAsync("shared", Bytes("from 0"));
        var pair = await clients[1].GetAsync("shared");
        Assert.Equal("from 0", Text(pair.Value));
        await clients[1].DeleteAsync("shared");
        Assert.False(await clients[0].ExistsAsync("shared"));
    }

    [Fact]
    public async Task Stale_reads_see_a_written_key_eventually()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("v"));
        var relaxed = new ReadOptions { Consistent = false };
        await Eventually(async () => await store.ExistsAsync("k", relaxed), "a non-consistent read to see the key");
        Assert.Equal("v", Text((await store.GetAsync("k", relaxed)).Value));
    }

    [Fact]
    public async Task States_start_Connected_and_end_with_Closed_then_completion_on_dispose()
    {
        var clients = await ClientsAsync(1);
        var seen = new List<StoreState>();
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sub = clients[0].States.Subscribe(s => { lock (seen) { seen.Add(s); } }, () => completed.TrySetResult());
        await Eventually(() => Task.FromResult(Count() > 0), "the current state on subscribe");
        Assert.Equal(StoreState.Connected, First());
        await clients[0].DisposeAsync();
        await completed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        lock (seen)
        {
            Assert.Equal(StoreState.Closed, seen[^1]);
            Assert.Single(seen, StoreState.Closed);
        }

        int Count()
        {
            lock (seen)
            {
                return seen.Count;
            }
        }

        StoreState First()
        {
            lock (seen)
            {
                return seen[0];
            }
        }
    }
}
