using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>What goes on the wire: nothing for a cancelled call, a bounded Unavailable for a server that never answers.</summary>
public sealed class ConsulTransportTests
{
    [Fact]
    public async Task A_call_with_a_cancelled_token_sends_nothing_not_even_a_keep_alive_session()
    {
        using var silent = new HungListener();
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { silent.Endpoint }, RequestTimeout = TimeSpan.FromSeconds(1) });
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var keepAlive = new WriteOptions { Ttl = TimeSpan.FromSeconds(5), KeepAlive = true };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.PutAsync("k", "v"u8.ToArray(), keepAlive, cts.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.AtomicPutAsync("k", "v"u8.ToArray(), null, keepAlive, cts.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.PutAsync("k", "v"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(5) }, cts.Token));
        await using (var locker = store.NewLock("l"))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await locker.LockAsync(cts.Token));
        }

        // A marker call that does go out; anything the cancelled calls had started was sent before it.
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.GetAsync("marker"));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        var requests = silent.RequestLines();
        Assert.Equal(["GET /v1/kv/marker?raw&consistent HTTP/1.1"], requests);
    }

    [Fact]
    public async Task A_server_that_never_answers_is_Unavailable_naming_it_within_the_request_timeout()
    {
        using var silent = new HungListener();
        var timeout = TimeSpan.FromSeconds(1);
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { silent.Endpoint }, RequestTimeout = timeout });
        var clock = Stopwatch.StartNew();
        Func<Task>[] calls =
        [
            async () => await store.GetAsync("k"),
            async () => await store.PutAsync("k", "v"u8.ToArray()),
            async () => await store.ListAsync("d"),
            async () => await store.PutAsync("k", "v"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(5), KeepAlive = true }),
            async () =>
            {
                await using var locker = store.NewLock("l");
                await locker.LockAsync();
            },
        ];
        foreach (var call in calls)
        {
            clock.Restart();
            var e = await Assert.ThrowsAsync<KvException>(call);
            Assert.Equal(KvErrorCode.Unavailable, e.Code);
            Assert.True(e.IsTransient);
            Assert.Contains(silent.Endpoint, e.Message, StringComparison.Ordinal);
            Assert.True(clock.Elapsed < timeout + TimeSpan.FromSeconds(10), $"the call took {clock.Elapsed}");
        }
    }

    [Fact]
    public async Task Disposing_a_watch_subscription_aborts_its_request()
    {
        using var silent = new HungListener();
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { silent.Endpoint }, RequestTimeout = TimeSpan.FromSeconds(60) });
        var subscription = store.WatchTree("d").Subscribe(_ => { });
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var connection = await silent.AcceptAsync(deadline.Token);
        var stream = connection.GetStream();
        var buffer = new byte[4096];
        var request = Encoding.ASCII.GetString(buffer, 0, await stream.ReadAsync(buffer, deadline.Token));
        Assert.StartsWith("GET /v1/kv/d/?recurse", request, StringComparison.Ordinal);

        subscription.Dispose();
        var closed = false;
        try
        {
            while (!closed)
            {
                closed = await stream.ReadAsync(buffer, deadline.Token) == 0;
            }
        }
        catch (IOException)
        {
            closed = true;
        }

        Assert.True(closed, "the watch's connection was closed when the subscription was disposed");
    }
}
