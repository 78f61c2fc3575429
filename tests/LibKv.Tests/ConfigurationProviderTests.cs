using LibKv.Configuration;
using LibKv.Memory;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace LibKv.Tests;

/// <summary>The configuration provider: keys under a prefix become configuration, kept current by a watch.</summary>
public sealed class ConfigurationProviderTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Keys_under_the_prefix_become_configuration_and_changes_show_within_2_s_with_the_reload_token()
    {
        var space = "cfg-" + Guid.NewGuid().ToString("N");
        await using var admin = new MemoryStore(new StoreOptions { Endpoints = { space } });
        await admin.PutAsync("config/app/Logging/Level", "Debug"u8.ToArray());
        await admin.PutAsync("config/app/Name", "orders"u8.ToArray());
        await admin.PutAsync("config/other/Name", "not mine"u8.ToArray());
        var configuration = new ConfigurationBuilder()
            .AddKvStore(s => { s.Store = new StoreOptions { Endpoints = { space } }; s.Prefix = "config/app"; })
            .Build();
        using var _ = (IDisposable)configuration;
        Assert.Equal("Debug", configuration["Logging:Level"]);
        Assert.Equal("orders", configuration["Name"]);
        Assert.Equal(2, configuration.AsEnumerable().Count(p => p.Value is not null));

        var reloaded = 0;
        Microsoft.Extensions.Primitives.ChangeToken.OnChange(configuration.GetReloadToken, () => Interlocked.Increment(ref reloaded));
        await admin.PutAsync("config/app/Logging/Level", "Warning"u8.ToArray());
        await Until(() => configuration["Logging:Level"] == "Warning");
        await admin.PutAsync("config/app/Feature/On", "true"u8.ToArray());
        await Until(() => configuration["Feature:On"] == "true");
        await admin.DeleteAsync("config/app/Name");
        await Until(() => configuration["Name"] is null);
        Assert.True(Volatile.Read(ref reloaded) >= 3);
    }

    [Fact]
    public async Task Without_reload_the_configuration_is_read_once()
    {
        var space = "cfg-" + Guid.NewGuid().ToString("N");
        await using var admin = new MemoryStore(new StoreOptions { Endpoints = { space } });
        await admin.PutAsync("A/B", "1"u8.ToArray());
        var configuration = new ConfigurationBuilder()
            .AddKvStore(s => { s.Store = new StoreOptions { Endpoints = { space } }; s.ReloadOnChange = false; })
            .Build();
        Assert.Equal("1", configuration["A:B"]);
        await admin.PutAsync("A/B", "2"u8.ToArray());
        await Task.Delay(300);
        Assert.Equal("1", configuration["A:B"]);
        ((IDisposable)configuration).Dispose();
    }

    [Fact]
    public void An_unreachable_store_fails_the_build_unless_optional()
    {
        var factory = new StoreFactory().Register("down", (o, _) => throw KvException.Unavailable("no server at " + string.Join(",", o.Endpoints)));
        var e = Assert.Throws<KvException>(() => new ConfigurationBuilder()
            .AddKvStore(s => { s.Store = new StoreOptions { Backend = "down", Endpoints = { "127.0.0.1:1" } }; s.Factory = factory; })
            .Build());
        Assert.Equal(KvErrorCode.Unavailable, e.Code);

        var optional = new ConfigurationBuilder()
            .AddKvStore(s => { s.Store = new StoreOptions { Backend = "down", Endpoints = { "127.0.0.1:1" } }; s.Factory = factory; s.Optional = true; })
            .Build();
        Assert.Empty(optional.AsEnumerable());
        ((IDisposable)optional).Dispose();
    }

    [Fact]
    public async Task An_optional_store_that_comes_up_later_fills_the_configuration()
    {
        var space = "cfg-" + Guid.NewGuid().ToString("N");
        await using var admin = new MemoryStore(new StoreOptions { Endpoints = { space } });
        await admin.PutAsync("p/Key", "late"u8.ToArray());
        var attempts = 0;
        var factory = new StoreFactory().Register("flaky", (o, _) =>
            Interlocked.Increment(ref attempts) == 1
                ? throw KvException.Unavailable("not yet")
                : ValueTask.FromResult<IStore>(new MemoryStore(new StoreOptions { Endpoints = { space } })));
        var configuration = new ConfigurationBuilder()
            .AddKvStore(s => { s.Store = new StoreOptions { Backend = "flaky", Endpoints = { "127.0.0.1:1" } }; s.Factory = factory; s.Optional = true; s.Prefix = "p"; })
            .Build();
        using var _ = (IDisposable)configuration;
        Assert.Null(configuration["Key"]);
        await Until(() => configuration["Key"] == "late");
        await admin.PutAsync("p/Key", "later"u8.ToArray());
        await Until(() => configuration["Key"] == "later");
    }

    [Fact]
    public void A_bad_prefix_is_an_argument_error()
    {
        Assert.ThrowsAny<ArgumentException>(() => new ConfigurationBuilder().AddKvStore(s => s.Prefix = "a//b"));
    }

    private static async Task Until(Func<bool> condition)
    {
        var end = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < end, "condition not met in time");
            await Task.Delay(20);
        }
    }
}
