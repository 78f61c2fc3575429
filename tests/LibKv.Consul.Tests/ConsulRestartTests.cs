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
