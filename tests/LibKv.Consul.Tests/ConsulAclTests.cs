using LibKv.Conformance;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>An agent with ACLs enabled and default deny, started for this class only.</summary>
public sealed class ConsulAclFixture : IAsyncLifetime
{
    public string MasterToken { get; } = Guid.NewGuid().ToString();

    public ConsulServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await ConsulServer.StartAsync(dev: true, $$"""
            acl {
              enabled = true
              default_policy = "deny"
              tokens {
                master = "{{MasterToken}}"
              }
            }
            """);
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class ConsulAclTests(ConsulAclFixture acl) : IClassFixture<ConsulAclFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Without_a_token_calls_are_Unauthorized_and_watches_end_with_it()
    {
        await using var store = await StoreFactory.Default.CreateAsync(Options(token: null));
        var put = await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("k", "v"u8.ToArray()));
        Assert.Equal(KvErrorCode.Unauthorized, put.Code);
        Assert.False(put.IsTransient);
        Assert.Equal(KvErrorCode.Unauthorized, (await Assert.ThrowsAsync<KvException>(async () => await store.GetAsync("k"))).Code);
        Assert.Equal(KvErrorCode.Unauthorized, (await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("t", "v"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(5) }))).Code);
        await using var locker = store.NewLock("l");
        Assert.Equal(KvErrorCode.Unauthorized, (await Assert.ThrowsAsync<KvException>(async () => await locker.LockAsync())).Code);

        using var watch = new Recorder<KVPair?>(store.Watch("k"));
        var ended = await Task.WhenAny(watch.Ended, Task.Delay(Deadline));
        Assert.Same(watch.Ended, ended);
        Assert.Equal(KvErrorCode.Unauthorized, Assert.IsType<KvException>(watch.Error).Code);
    }

    [Fact]
    public async Task A_wrong_token_is_Unauthorized()
    {
        await using var store = await StoreFactory.Default.CreateAsync(Options(Guid.NewGuid().ToString()));
        Assert.Equal(KvErrorCode.Unauthorized, (await Assert.ThrowsAsync<KvException>(async () => await store.PutAsync("k", "v"u8.ToArray()))).Code);
    }

    [Fact]
    public async Task A_valid_token_works_for_everything()
    {
        await using var store = await StoreFactory.Default.CreateAsync(Options(acl.MasterToken));
        await store.PutAsync("k", "v"u8.ToArray());
        Assert.Equal("v"u8.ToArray(), (await store.GetAsync("k")).Value);
        Assert.True(await store.ExistsAsync("k"));
        Assert.Single(await store.ListAsync(""));
        var pair = await store.AtomicPutAsync("k", "w"u8.ToArray(), await store.GetAsync("k"));
        await store.PutAsync("svc", "x"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true });
        await using var locker = store.NewLock("l");
        await locker.LockAsync();
        Assert.True(locker.IsHeld);
        await locker.UnlockAsync();
        await store.AtomicDeleteAsync("k", pair);
        await store.DeleteTreeAsync("svc");
    }

    private StoreOptions Options(string? token) => new()
    {
        Backend = "consul",
        Endpoints = { acl.Server.Endpoint },
        Root = "acl/" + Guid.NewGuid().ToString("N"),
        Token = token,
    };
}
