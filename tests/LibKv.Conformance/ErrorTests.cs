using Xunit;

namespace LibKv.Conformance;

/// <summary>Contract, Errors: value size limit and use after dispose.</summary>
public abstract class ErrorTests(IKvFixture fixture) : KvTestBase(fixture)
{
    [Fact]
    public async Task A_value_at_the_limit_is_stored_and_one_over_it_is_ValueTooLarge_leaving_the_value_untouched()
    {
        var store = await StoreAsync();
        var atLimit = new byte[512 * 1024];
        new Random(42).NextBytes(atLimit);
        await store.PutAsync("big", atLimit);
        Assert.Equal(atLimit, (await store.GetAsync("big")).Value);
        var current = await store.GetAsync("big");
        var tooLarge = new byte[(512 * 1024) + 1];
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("big", tooLarge));
        Assert.Equal(KvErrorCode.ValueTooLarge, e.Code);
        Assert.False(e.IsTransient);
        Assert.Equal(KvErrorCode.ValueTooLarge, (await Assert.ThrowsAsync<KvException>(async () => await store.AtomicPutAsync("big", tooLarge, current))).Code);
        Assert.Equal(current.LastIndex, (await store.GetAsync("big")).LastIndex);
        Assert.Equal(atLimit, (await store.GetAsync("big")).Value);
    }

    [Fact]
    public async Task A_disposed_store_refuses_calls()
    {
        var store = await StoreAsync();
        await store.PutAsync("k", Bytes("v"));
        await store.DisposeAsync();
        await store.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetAsync("k"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.PutAsync("k", Bytes("v")));
        Assert.Throws<ObjectDisposedException>(() => store.Watch("k"));
        Assert.Throws<ObjectDisposedException>(() => store.NewLock("k"));
    }

    [Fact]
    public async Task Cancelled_calls_throw_OperationCanceledException()
    {
        var store = await StoreAsync();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.PutAsync("k", Bytes("v"), cancellationToken: cts.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.GetAsync("k", cancellationToken: cts.Token));
        Assert.False(await store.ExistsAsync("k"));
    }
}
