using Xunit;

namespace LibKv.Conformance;

/// <summary>Contract, Keys: normalization and rejection before anything is sent.</summary>
public abstract class KeyTests(IKvFixture fixture) : KvTestBase(fixture)
{
    public static TheoryData<string> InvalidKeys => new()
    {
        "", "/", "//", "a//b", "./a", "a/.", "a/../b", "..", "a\u0000b", "a\nb", "\u001f", "a\u007fb",
    };

    [Fact]
    public async Task Leading_and_trailing_slashes_name_the_same_key()
    {
        var store = await StoreAsync();
        await store.PutAsync("/a/b/", Bytes("v"));
        var pair = await store.GetAsync("a/b");
        Assert.Equal("a/b", pair.Key);
        Assert.Equal("v", Text(pair.Value));
        Assert.Equal("a/b", (await store.GetAsync("/a/b")).Key);
        Assert.Equal(new[] { "a/b" }, (await store.ListAsync("/a/")).Select(p => p.Key));
    }

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public async Task Invalid_keys_are_rejected_by_every_call_and_nothing_is_written(string key)
    {
        var store = await StoreAsync();
        await store.PutAsync("sentinel", Bytes("s"));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.PutAsync(key, Bytes("x")));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.GetAsync(key));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.DeleteAsync(key));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.ExistsAsync(key));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.AtomicPutAsync(key, Bytes("x"), null));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.AtomicDeleteAsync(key, new KVPair("k", Array.Empty<byte>(), 1)));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.DeleteTreeAsync(key));
        Assert.ThrowsAny<ArgumentException>(() => store.Watch(key));
        Assert.ThrowsAny<ArgumentException>(() => store.NewLock(key));
        if (key.Trim('/').Length > 0)
        {
            await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.ListAsync(key));
            Assert.ThrowsAny<ArgumentException>(() => store.WatchTree(key));
        }

        var all = await store.ListAsync("");
        Assert.Equal(new[] { "sentinel" }, all.Select(p => p.Key));
    }

    [Fact]
    public async Task Null_keys_are_rejected()
    {
        var store = await StoreAsync();
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.PutAsync(null!, Bytes("x")));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.GetAsync(null!));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.ListAsync(null!));
        Assert.ThrowsAny<ArgumentException>(() => store.Watch(null!));
        Assert.ThrowsAny<ArgumentException>(() => store.WatchTree(null!));
    }

    [Fact]
    public async Task Keys_up_to_4096_utf8_bytes_are_accepted_and_longer_ones_rejected()
    {
        var store = await StoreAsync();
        var longest = string.Concat(Enumerable.Repeat(new string('a', 199) + "/", 20)) + new string('a', 96);
        Assert.Equal(4096, longest.Length);
        await store.PutAsync("/" + longest + "/", Bytes("ok"));
        Assert.Equal(longest, (await store.GetAsync(longest)).Key);
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.PutAsync(longest + "a", Bytes("x")));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.PutAsync(new string('\u00e9', 2049), Bytes("x")));
        Assert.Equal(new[] { longest }, (await store.ListAsync("")).Select(p => p.Key));
    }

    [Fact]
    public async Task DeleteTree_of_the_whole_store_is_rejected()
    {
        var store = await StoreAsync();
        await store.PutAsync("a", Bytes("1"));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.DeleteTreeAsync(""));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.DeleteTreeAsync("/"));
        Assert.True(await store.ExistsAsync("a"));
    }

    [Fact]
    public async Task Unicode_keys_round_trip()
    {
        var store = await StoreAsync();
        await store.PutAsync("ünï/cødé/键", Bytes("v"));
        Assert.Equal("ünï/cødé/键", (await store.GetAsync("ünï/cødé/键")).Key);
        Assert.Equal(new[] { "ünï/cødé/键" }, (await store.ListAsync("ünï")).Select(p => p.Key));
    }
}
