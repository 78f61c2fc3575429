using LibKv.Memory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Moq;
using Xunit;

namespace LibKv.Tests;

public sealed class KeyPathTests
{
    [Theory]
    [InlineData("a", "a")]
    [InlineData("/a/b/", "a/b")]
    [InlineData("///a///", "a")]
    [InlineData("a b/ c", "a b/ c")]
    public void Normalize_trims_slashes(string input, string expected) => Assert.Equal(expected, KeyPath.Normalize(input));

    [Fact]
    public void Directory_may_be_empty_but_a_key_may_not()
    {
        Assert.Equal("", KeyPath.NormalizeDirectory("/"));
        Assert.Throws<ArgumentException>(() => KeyPath.Normalize("/"));
        Assert.Throws<ArgumentNullException>(() => KeyPath.Normalize(null!));
    }

    [Theory]
    [InlineData("d/x", "d", true)]
    [InlineData("d/x/y", "d", true)]
    [InlineData("dX", "d", false)]
    [InlineData("d", "d", false)]
    [InlineData("anything", "", true)]
    public void IsUnder_follows_the_contract(string key, string directory, bool expected) => Assert.Equal(expected, KeyPath.IsUnder(key, directory));

    [Fact]
    public void Error_messages_show_control_characters_escaped()
    {
        var e = Assert.Throws<ArgumentException>(() => KeyPath.Normalize("a\u0001b"));
        Assert.Contains("U+0001", e.Message);
        Assert.False(e.Message.Contains('\u0001', StringComparison.Ordinal), "the raw control character leaked into the message");
    }

    [Fact]
    public void Roots_combine_and_strip()
    {
        Assert.Equal("r/k", KeyPath.Combine("r", "k"));
        Assert.Equal("k", KeyPath.Combine(null, "k"));
        Assert.Equal("k", KeyPath.StripRoot("r", "r/k"));
        Assert.Null(KeyPath.StripRoot("r", "rk"));
        Assert.Null(KeyPath.NormalizeRoot("/"));
    }
}

public sealed class StoreFactoryTests
{
    [Fact]
    public async Task Default_knows_memory_and_its_mock_alias()
    {
        Assert.Contains("memory", StoreFactory.Default.Backends);
        Assert.Equal("memory", StoreFactory.Default.Aliases["mock"]);
        await using var store = await StoreFactory.Default.CreateAsync("mock", new StoreOptions());
        Assert.Equal("memory", store.Backend);
    }

    [Fact]
    public async Task An_unknown_backend_lists_the_known_names_and_the_package_to_reference()
    {
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("redis", new StoreOptions()));
        Assert.Equal(KvErrorCode.UnknownBackend, e.Code);
        Assert.Contains("memory", e.Message);
        Assert.Contains("mock", e.Message);
        Assert.Contains("LibKv.", e.Message);
    }

    [Fact]
    public async Task A_known_but_unreferenced_backend_names_its_package()
    {
        var factory = new StoreFactory();
        var e = await Assert.ThrowsAsync<KvException>(async () => await factory.CreateAsync("zk", new StoreOptions()));
        Assert.Equal(KvErrorCode.UnknownBackend, e.Code);
        Assert.Contains("LibKv.ZooKeeper", e.Message);
    }

    [Fact]
    public async Task Invalid_options_fail_with_every_problem_named()
    {
        var options = new StoreOptions { RequestTimeout = TimeSpan.Zero, Root = "a//b" };
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("memory", options));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains("RequestTimeout", e.Message);
        Assert.Contains("Root", e.Message);
    }

    [Fact]
    public async Task Custom_backends_can_be_registered()
    {
        var factory = new StoreFactory().Register("custom", (o, _) => ValueTask.FromResult<IStore>(new MemoryStore(o)));
        await using var store = await factory.CreateAsync("CUSTOM", new StoreOptions());
        Assert.Equal(new[] { "custom" }, factory.Backends);
    }
}

public sealed class DependencyInjectionTests
{
    [Fact]
    public async Task AddKvStore_binds_configuration_and_resolves_a_working_store()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["KvStore:Backend"] = "memory",
            ["KvStore:Endpoints:0"] = "di-" + Guid.NewGuid().ToString("N"),
            ["KvStore:RequestTimeout"] = "00:00:03",
            ["KvStore:Root"] = "app",
        }).Build();
        await using var provider = new ServiceCollection().AddKvStore(configuration.GetSection("KvStore")).Services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<StoreOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(3), options.RequestTimeout);
        var store = provider.GetRequiredService<IStore>();
        await store.PutAsync("k", "v"u8.ToArray());
        Assert.Equal("memory", store.Backend);
        Assert.Same(store, provider.GetRequiredService<IStore>());
    }

    [Fact]
    public void Invalid_options_fail_at_start_with_a_clear_message()
    {
        using var provider = new ServiceCollection()
            .AddKvStore(o =>
            {
                o.Backend = "nope";
                o.ConnectionTimeout = TimeSpan.FromSeconds(-1);
            })
            .Services.BuildServiceProvider();
        var validator = provider.GetRequiredService<IStartupValidator>();
        var e = Assert.Throws<OptionsValidationException>(() => validator.Validate());
        Assert.Contains("Backend 'nope' is unknown", e.Message);
        Assert.Contains("ConnectionTimeout", e.Message);
    }
}

/// <summary>A component that depends only on the contract, as a user's service would.</summary>
public sealed class ServiceRegistrar(IStore store)
{
    public async Task<bool> RegisterAsync(string service, string address, CancellationToken cancellationToken)
    {
        try
        {
            await store.AtomicPutAsync($"services/{service}/{address}", System.Text.Encoding.UTF8.GetBytes(address), null, new WriteOptions { Ttl = TimeSpan.FromSeconds(10), KeepAlive = true }, cancellationToken);
            return true;
        }
        catch (KvException e) when (e.Code == KvErrorCode.KeyExists)
        {
            return false;
        }
    }
}

public sealed class MockabilityTests
{
    [Fact]
    public async Task The_contract_can_be_mocked_with_Moq()
    {
        var store = new Mock<IStore>(MockBehavior.Strict);
        store.SetupSequence(s => s.AtomicPutAsync("services/web/10.0.0.1", It.IsAny<ReadOnlyMemory<byte>>(), null, It.Is<WriteOptions>(o => o.KeepAlive && o.Ttl == TimeSpan.FromSeconds(10)), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new KVPair("services/web/10.0.0.1", "10.0.0.1"u8.ToArray(), 7))
            .ThrowsAsync(new KvException(KvErrorCode.KeyExists, "exists", "services/web/10.0.0.1"));
        var registrar = new ServiceRegistrar(store.Object);
        Assert.True(await registrar.RegisterAsync("web", "10.0.0.1", CancellationToken.None));
        Assert.False(await registrar.RegisterAsync("web", "10.0.0.1", CancellationToken.None));
        store.VerifyAll();
    }
}
