using LibKv.Coordination;
using Xunit;

namespace LibKv.Conformance;

/// <summary>DistributedCounter: exactly-once adds by compare-and-set.</summary>
public abstract class CounterTests(IKvFixture fixture) : KvTestBase(fixture)
{
    [Fact]
    public async Task A_missing_counter_is_zero_and_adds_return_the_new_value()
    {
        var store = await StoreAsync();
        var counter = new DistributedCounter(store, "counters/a");
        Assert.Equal(0, await counter.GetAsync());
        Assert.Equal(5, await counter.AddAsync(5));
        Assert.Equal(2, await counter.AddAsync(-3));
        Assert.Equal(2, await counter.GetAsync());
        Assert.Equal("2", Text((await store.GetAsync("counters/a")).Value));
    }

    [Fact]
    public async Task Concurrent_adds_from_several_clients_are_each_applied_once()
    {
        var clients = await ClientsAsync(3);
        const int perClient = 15;
        var results = await Task.WhenAll(clients.Select(c => Task.Run(async () =>
        {
            var counter = new DistributedCounter(c, "counters/shared");
            var seen = new List<long>();
            for (var i = 0; i < perClient; i++)
            {
                seen.Add(await counter.AddAsync(1));
            }

            return seen;
        })));
        var all = results.SelectMany(r => r).ToList();
        Assert.Equal(clients.Length * perClient, all.Distinct().Count());
        Assert.Equal(clients.Length * perClient, await new DistributedCounter(clients[0], "counters/shared").GetAsync());
    }

    [Fact]
    public async Task A_key_that_is_not_a_number_is_an_error_and_is_left_alone()
    {
        var store = await StoreAsync();
        await store.PutAsync("counters/bad", Bytes("twelve"));
        var counter = new DistributedCounter(store, "counters/bad");
        await Assert.ThrowsAsync<InvalidDataException>(async () => await counter.AddAsync(1));
        Assert.Equal("twelve", Text((await store.GetAsync("counters/bad")).Value));
    }
}
