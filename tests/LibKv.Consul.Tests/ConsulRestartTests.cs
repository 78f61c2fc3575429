using System.Diagnostics;
using LibKv.Conformance;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>A one-node server with a data dir, stopped and restarted mid-watch.</summary>
public sealed class ConsulRestartTests : IAsyncLifetime
{
    private ConsulServer _server = null!;

    public async Task InitializeAsync() => _server = await ConsulServer.StartAsync(dev: false);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Calls_fail_fast_during_an_outage_and_the_watch_resumes_after_a_restart()
    {
        var requestTimeout = TimeSpan.FromSeconds(3);
        await using var store = await StoreFactory.Default.CreateAsync(new StoreOptions
        {
            Backend = "consul",
            Endpoints = { _server.Endpoint },
            RequestTimeout = requestTimeout,
            Root = "restart",
        });
        await store.PutAsync("k", "before"u8.ToArray());
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("before"u8), "the first state");

        _server.Kill();
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.GetAsync("k"));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains(_server.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < requestTimeout + TimeSpan.FromSeconds(5), $"the failing call took {clock.Elapsed}");
        Assert.Equal(KvErrorCode.Unavailable, (await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("k", "lost"u8.ToArray()))).Code);

        await _server.StartProcessAsync();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                await store.PutAsync("k", "after"u8.ToArray());
                break;
            }
            catch (KvException x) when (x.IsTransient && DateTime.UtcNow < until)
            {
                await Task.Delay(200);
            }
        }

        await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("after"u8), "the change made after the restart");
        Assert.Null(watch.Error);
        Assert.False(watch.Completed);
    }
}

/// <summary>Issue 8 item 2: a -dev agent restarted on the same port starts its index over; watches follow it.</summary>
public sealed class ConsulDevRestartTests : IAsyncLifetime
{
    private ConsulServer _server = null!;

    public async Task InitializeAsync() => _server = await ConsulServer.StartAsync(dev: true);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_watch_follows_a_dev_agent_whose_index_went_backwards_and_never_goes_silent()
    {
        await using var store = await StoreFactory.Default.CreateAsync(new StoreOptions
        {
            Backend = "consul",
            Endpoints = { _server.Endpoint },

            // The blocking wait (= RequestTimeout) is longer than the time the test waits for v3: the watch must not
            // wait for a query on the new agent to time out, it re-reads at once after losing its connection.
            RequestTimeout = TimeSpan.FromSeconds(40),
            Root = "devrestart",
        });

        // Push the index well above where a fresh agent starts.
        for (var i = 0; i < 30; i++)
        {
            await store.PutAsync("other", "x"u8.ToArray());
        }

        await store.PutAsync("k", "v1"u8.ToArray());
        var before = (await store.GetAsync("k")).LastIndex;
        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        using var tree = new Recorder<IReadOnlyList<KVPair>>(store.WatchTree(""));
        await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v1"u8), "the first state");

        _server.Kill();
        await _server.StartProcessAsync();
        await ConsulSessionLossTests.Until(
            async () =>
            {
                try
                {
                    await store.PutAsync("k", "v2"u8.ToArray());
                    return true;
                }
                catch (KvException x) when (x.IsTransient)
                {
                    return false;
                }
            },
            "the restarted agent to take writes");
        await store.PutAsync("k", "v3"u8.ToArray());
        var now = (await store.GetAsync("k")).LastIndex;
        Assert.True(now < before, $"the restarted agent's index ({now}) is below the one before ({before})");

        var last = await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v3"u8), "v3 from the restarted agent");
        Assert.Equal(now, last!.LastIndex);
        await tree.WaitForLast(l => l.Count == 1 && l[0].Value.AsSpan().SequenceEqual("v3"u8), "the tree with v3 only");

        // And ordered from there on.
        await store.PutAsync("k", "v4"u8.ToArray());
        await watch.WaitForLast(p => p is not null && p.Value.AsSpan().SequenceEqual("v4"u8), "v4");
        Assert.Null(watch.Error);
    }
}
