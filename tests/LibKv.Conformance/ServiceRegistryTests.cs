using System.Reactive.Linq;
using System.Text.Json;
using LibKv.Coordination;
using Xunit;

namespace LibKv.Conformance;

/// <summary>ServiceRegistry: keep-alive JSON registrations, resolve and watch sorted by Id.</summary>
public abstract class ServiceRegistryTests(IKvFixture fixture) : KvTestBase(fixture)
{
    private ServiceRegistryOptions Options => new() { Prefix = "svc", Ttl = Fixture.Ttl };

    [Fact]
    public async Task Registered_instances_resolve_sorted_by_id_and_disposal_removes_one_at_once()
    {
        var clients = await ClientsAsync(2);
        var registry = new ServiceRegistry(clients[0], Options);
        var b = await registry.RegisterAsync(new ServiceInstance("web", "web-b", "10.0.0.2:80"));
        await using var a = await registry.RegisterAsync(new ServiceInstance("web", "web-a", "10.0.0.1:80", new Dictionary<string, string> { ["zone"] = "eu" }));
        var reader = new ServiceRegistry(clients[1], Options);
        var found = await reader.ResolveAsync("web");
        Assert.Equal(new[] { "web-a", "web-b" }, found.Select(i => i.Id));
        Assert.Equal("10.0.0.1:80", found[0].Address);
        Assert.Equal("eu", found[0].Metadata!["zone"]);

        using (var json = JsonDocument.Parse((await clients[1].GetAsync("svc/web/web-a")).Value))
        {
            Assert.Equal("web", json.RootElement.GetProperty("service").GetString());
            Assert.Equal("web-a", json.RootElement.GetProperty("id").GetString());
            Assert.Equal("10.0.0.1:80", json.RootElement.GetProperty("address").GetString());
            Assert.Equal("eu", json.RootElement.GetProperty("metadata").GetProperty("zone").GetString());
        }

        await b.DisposeAsync();
        Assert.Equal(new[] { "web-a" }, (await reader.ResolveAsync("web")).Select(i => i.Id));
        Assert.Empty(await reader.ResolveAsync("nothing-here"));
    }

    [Fact]
    public async Task Keys_that_are_not_instances_are_skipped()
    {
        var store = await StoreAsync();
        var registry = new ServiceRegistry(store, Options);
        await using var a = await registry.RegisterAsync(new ServiceInstance("api", "api-1", "h:1"));
        await store.PutAsync("svc/api/garbage", Bytes("not json"));
        await store.PutAsync("svc/api/group/deeper", Bytes("{\"service\":\"api\",\"id\":\"deeper\",\"address\":\"h:2\"}"));
        Assert.Equal(new[] { "api-1" }, (await registry.ResolveAsync("api")).Select(i => i.Id));
    }

    [Fact]
    public async Task A_watch_sees_instances_come_and_go()
    {
        var clients = await ClientsAsync(2);
        var seen = new List<string>();
        var reader = new ServiceRegistry(clients[1], Options);
        using var sub = reader.Watch("jobs").Subscribe(list => { lock (seen) { seen.Add(string.Join(",", list.Select(i => i.Id))); } });
        await Eventually(() => Task.FromResult(Last(seen) == ""), "the empty list on subscribe");
        var registry = new ServiceRegistry(clients[0], Options);
        var one = await registry.RegisterAsync(new ServiceInstance("jobs", "j1", "h:1"));
        await Eventually(() => Task.FromResult(Last(seen) == "j1"), "j1 registered");
        await using var two = await registry.RegisterAsync(new ServiceInstance("jobs", "j2", "h:2"));
        await Eventually(() => Task.FromResult(Last(seen) == "j1,j2"), "j2 registered");
        await one.DisposeAsync();
        await Eventually(() => Task.FromResult(Last(seen) == "j2"), "j1 removed");
    }

    [Fact]
    public async Task A_registration_goes_with_its_store()
    {
        var clients = await ClientsAsync(2);
        await new ServiceRegistry(clients[0], Options).RegisterAsync(new ServiceInstance("db", "db-1", "h:5432"));
        var reader = new ServiceRegistry(clients[1], Options);
        Assert.Single(await reader.ResolveAsync("db"));
        await clients[0].DisposeAsync();
        await Eventually(async () => (await reader.ResolveAsync("db")).Count == 0, "the instance to go with its store", 2 * Fixture.Ttl + TimeSpan.FromSeconds(7));
    }

    [Fact]
    public async Task Bad_names_are_argument_errors()
    {
        var registry = new ServiceRegistry(await StoreAsync(), Options);
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await registry.RegisterAsync(new ServiceInstance("a/b", "x", "h:1")));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await registry.RegisterAsync(new ServiceInstance("a", "", "h:1")));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await registry.ResolveAsync(""));
    }

    private static string? Last(List<string> seen)
    {
        lock (seen)
        {
            return seen.Count == 0 ? null : seen[^1];
        }
    }
}
