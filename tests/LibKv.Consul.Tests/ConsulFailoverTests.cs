using System.Diagnostics;
using LibKv.Conformance;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>Issue 8 items 5, 10 and 12: a hung or silent endpoint is left for the next one, but a write is never resent.</summary>
public sealed class ConsulFailoverTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Reads_move_on_past_a_hung_endpoint_after_the_request_timeout()
    {
        var server = await ConsulServer.Shared;
        using var hung = new HungListener();
        var root = "failover/" + Guid.NewGuid().ToString("N");
        await using var direct = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await direct.PutAsync("k", "v"u8.ToArray());
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { hung.Endpoint, server.Endpoint }, Root = root, RequestTimeout = s_timeout });

        var pair = await store.GetAsync("k");

        Assert.Equal("v"u8.ToArray(), pair.Value);
        Assert.True(hung.WasContacted, "the hung endpoint was tried first");
        Assert.True(await store.ExistsAsync("k"));
        Assert.Single(await store.ListAsync(""));
    }

    [Fact]
    public async Task A_write_sent_to_a_hung_endpoint_is_outcome_unknown_never_resent_and_the_next_call_uses_the_next_endpoint()
    {
        var server = await ConsulServer.Shared;
        using var hung = new HungListener();
        var root = "failover/" + Guid.NewGuid().ToString("N");
        await using var direct = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { hung.Endpoint, server.Endpoint }, Root = root, RequestTimeout = s_timeout });

        var e = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("k", "v"u8.ToArray()));

        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains(hung.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.True(e.OutcomeUnknown, "a write that reached the hung endpoint has an unknown outcome");
        Assert.False(await direct.ExistsAsync("k"), "the write was not resent to the good endpoint");
        Assert.Equal(["PUT /v1/txn HTTP/1.1"], hung.RequestLines());

        // The hung endpoint is no longer preferred: the next write goes to the good one at once.
        await store.PutAsync("k", "w"u8.ToArray());
        Assert.Equal("w"u8.ToArray(), (await direct.GetAsync("k")).Value);
    }

    [Fact]
    public async Task A_write_to_a_refused_endpoint_was_certainly_not_sent_and_moves_on()
    {
        var server = await ConsulServer.Shared;
        var root = "failover/" + Guid.NewGuid().ToString("N");
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { "127.0.0.1:" + ConsulServer.ClosedPort(), server.Endpoint }, Root = root, RequestTimeout = s_timeout });

        await store.PutAsync("k", "v"u8.ToArray());
        var pair = await store.AtomicPutAsync("k", "w"u8.ToArray(), await store.GetAsync("k"));

        Assert.Equal("w"u8.ToArray(), (await store.GetAsync("k")).Value);
        Assert.Equal(pair.LastIndex, (await store.GetAsync("k")).LastIndex);

        await using var nowhere = new ConsulStore(new StoreOptions { Endpoints = { "127.0.0.1:" + ConsulServer.ClosedPort() }, Root = root, RequestTimeout = s_timeout });
        var e = await Assert.ThrowsAsync<KvException>(async () => await nowhere.PutAsync("k", "x"u8.ToArray()));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.False(e.OutcomeUnknown, "a write refused at connect was certainly not applied");
        var d = await Assert.ThrowsAsync<KvException>(async () => await nowhere.DeleteAsync("k"));
        Assert.False(d.OutcomeUnknown);
    }

    [Fact]
    public async Task A_watch_on_a_silent_endpoint_moves_to_the_next_one_and_delivers_what_changed_meanwhile()
    {
        var server = await ConsulServer.Shared;
        await using var proxy = new TcpProxy(server.HttpPort);
        var root = "failover/" + Guid.NewGuid().ToString("N");
        await using var direct = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await direct.PutAsync("k", "v1"u8.ToArray());
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { proxy.Endpoint, server.Endpoint }, Root = root, RequestTimeout = s_timeout });
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v1"u8), "the first state");

        // The watch's endpoint goes silent with its blocking query open (as a SIGSTOPped agent does).
        proxy.Freeze();
        await direct.PutAsync("k", "v2"u8.ToArray());

        var last = await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v2"u8), "the change made while its endpoint was silent");
        Assert.Equal((await direct.GetAsync("k")).LastIndex, last!.LastIndex);
        await direct.PutAsync("k", "v3"u8.ToArray());
        await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v3"u8), "a later change, from the next endpoint");
        Assert.Null(watch.Error);
    }
}

/// <summary>An agent that answers but cannot serve ("No cluster leader") is left for the next endpoint.</summary>
public sealed class ConsulLeaderlessTests : IAsyncLifetime
{
    private ConsulServer _leaderless = null!;

    public async Task InitializeAsync() => _leaderless = await ConsulServer.StartLeaderlessAsync();

    public async Task DisposeAsync() => await _leaderless.DisposeAsync();

    [Fact]
    public async Task Reads_writes_and_watches_move_on_from_an_agent_without_a_cluster_leader()
    {
        var server = await ConsulServer.Shared;
        var root = "leaderless/" + Guid.NewGuid().ToString("N");
        await using var direct = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = root });
        await direct.PutAsync("k", "v1"u8.ToArray());
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { _leaderless.Endpoint, server.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(2) });

        // A watch keeps no preferred endpoint of its own: it must not stay on the one that answers 500.
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v1"u8), "the state, from the endpoint with a leader");
        Assert.Equal("v1"u8.ToArray(), (await store.GetAsync("k")).Value);

        await using var writer = new ConsulStore(new StoreOptions { Endpoints = { _leaderless.Endpoint, server.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(2) });
        await writer.PutAsync("k", "v2"u8.ToArray());
        Assert.Equal("v2"u8.ToArray(), (await direct.GetAsync("k")).Value);
        await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v2"u8), "v2");

        await using var alone = new ConsulStore(new StoreOptions { Endpoints = { _leaderless.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(2) });
        var e = await Assert.ThrowsAsync<KvException>(async () => await alone.PutAsync("k", "v3"u8.ToArray()));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.False(e.OutcomeUnknown, "No cluster leader: the write was certainly not applied");
        Assert.Contains("No cluster leader", e.Message, StringComparison.Ordinal);
    }
}
