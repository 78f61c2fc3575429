using Xunit;

namespace LibKv.Conformance;

/// <summary>Contract, Operations: the AtomicPut and AtomicDelete table.</summary>
public abstract class AtomicTests(IKvFixture fixture) : KvTestBase(fixture)
{
    [Fact]
    public async Task AtomicPut_with_null_creates_and_returns_the_new_pair()
    {
        var store = await StoreAsync();
        var created = await store.AtomicPutAsync("k", Bytes("v1"), null);
        Assert.Equal("k", created.Key);
        Assert.Equal("v1", Text(created.Value));
        Assert.True(created.LastIndex > 0);
        var read = await store.GetAsync("k");
        Assert.Equal(created.LastIndex, read.LastIndex);
    }

    [Fact]
    public async Task AtomicPut_with_null_throws_KeyExists_when_the_key_exists()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("v"));
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("k", Bytes("other"), null));
        Assert.Equal(KvErrorCode.KeyExists, e.Code);
        Assert.Equal("v", Text((await store.GetAsync("k")).Value));
    }

    [Fact]
    public async Task AtomicPut_with_the_current_version_writes_and_returns_a_new_version()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("v1"));
        var current = await store.GetAsync("k");
        var written = await store.AtomicPutAsync("k", Bytes("v2"), current);
        Assert.NotEqual(current.LastIndex, written.LastIndex);
        Assert.Equal("v2", Text(written.Value));
        var read = await store.GetAsync("k");
        Assert.Equal(written.LastIndex, read.LastIndex);
        Assert.Equal("v2", Text(read.Value));
    }

    [Fact]
    public async Task AtomicPut_with_a_stale_version_throws_KeyModified_and_writes_nothing()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("v1"));
        var stale = await store.GetAsync("k");
        await store.PutAsync("k", Bytes("v2"));
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("k", Bytes("v3"), stale));
        Assert.Equal(KvErrorCode.KeyModified, e.Code);
        Assert.Equal("k", e.Key);
        Assert.Equal("v2", Text((await store.GetAsync("k")).Value));
    }

    [Fact]
    public async Task AtomicPut_on_a_deleted_key_throws_KeyNotFound()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("v1"));
        var previous = await store.GetAsync("k");
        await store.DeleteAsync("k");
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("k", Bytes("v2"), previous));
        Assert.Equal(KvErrorCode.KeyNotFound, e.Code);
        Assert.False(await store.ExistsAsync("k"));
    }

    [Fact]
    public async Task A_stale_version_never_matches_a_recreated_key()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("same"));
        var old = await store.GetAsync("k");
        await store.DeleteAsync("k");
        await store.PutAsync("k", Bytes("same"));
        Assert.Equal(KvErrorCode.KeyModified, (await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("k", Bytes("x"), old))).Code);
        Assert.Equal(KvErrorCode.KeyModified, (await Assert.ThrowsAsync<KvException>(async () => await store.AtomicDeleteAsync("k", old))).Code);
        Assert.Equal("same", Text((await store.GetAsync("k")).Value));
    }

    [Fact]
    public async Task AtomicDelete_follows_the_same_table()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("v1"));
        var stale = await store.GetAsync("k");
        await store.PutAsync("k", Bytes("v2"));
        var current = await store.GetAsync("k");
        Assert.Equal(KvErrorCode.KeyModified, (await Assert.ThrowsAsync<KvException>(async () => await store.AtomicDeleteAsync("k", stale))).Code);
        Assert.True(await store.ExistsAsync("k"));
        await store.AtomicDeleteAsync("k", current);
        Assert.False(await store.ExistsAsync("k"));
        Assert.Equal(KvErrorCode.KeyNotFound, (await Assert.ThrowsAsync<KvException>(async () => await store.AtomicDeleteAsync("k", current))).Code);
    }

    [Fact]
    public async Task AtomicDelete_with_null_previous_is_an_ArgumentNullException()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("v"));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.AtomicDeleteAsync("k", null!));
        Assert.True(await store.ExistsAsync("k"));
    }

    [Fact]
    public async Task Concurrent_increments_through_AtomicPut_lose_nothing()
    {
        const int tasks = 8;
        const int perTask = 10;
        var clients = await ClientsAsync(2);
        await clients[0].PutAsync("counter", Bytes("0"));
        var conflicts = 0;
        await Task.WhenAll(Enumerable.Range(0, tasks).Select(t => Task.Run(async () =>
        {
            var store = clients[t % clients.Length];
            for (var done = 0; done < perTask;)
            {
                var current = await store.GetAsync("counter");
                var next = int.Parse(Text(current.Value)) + 1;
                try
                {
                    await store.AtomicPutAsync("counter", Bytes(next.ToString()), current);
                    done++;
                }
                catch (KvException e) when (e.Code == KvErrorCode.KeyModified)
                {
                    Interlocked.Increment(ref conflicts);
                }
            }
        })));
        Assert.Equal((tasks * perTask).ToString(), Text((await clients[1].GetAsync("counter")).Value));
    }
}
