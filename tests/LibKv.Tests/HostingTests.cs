using LibKv.Hosting;
using LibKv.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace LibKv.Tests;

/// <summary>LibKv in a .NET host: no network on resolve, startup modes, keyed stores, the DI factory, health.</summary>
public sealed class HostingTests
{
    [Fact]
    public async Task Resolving_the_store_does_not_connect_the_first_call_does()
    {
        var backend = new CountingBackend();
        await using var provider = new ServiceCollection()
            .AddKvStore(o => o.Backend = "counting").AddBackend(backend).WithStartup(KvStoreStartup.OnFirstUse)
            .Services.BuildServiceProvider();
        var store = provider.GetRequiredService<IStore>();
        Assert.Equal(0, backend.Creates);
        Assert.Equal("counting", store.Backend);
        await store.PutAsync("k", "v"u8.ToArray());
        Assert.Equal(1, backend.Creates);
        Assert.Equal("v"u8.ToArray(), (await store.GetAsync("k")).Value);
        Assert.Equal(1, backend.Creates);
    }

    [Fact]
    public async Task Argument_errors_are_thrown_before_connecting()
    {
        var backend = new CountingBackend();
        await using var provider = new ServiceCollection()
            .AddKvStore(o => o.Backend = "counting").AddBackend(backend).WithStartup(KvStoreStartup.OnFirstUse)
            .Services.BuildServiceProvider();
        var store = provider.GetRequiredService<IStore>();
        Assert.Throws<ArgumentException>(() => { _ = store.GetAsync("a//b"); });
        Assert.Throws<ArgumentException>(() => store.Watch(""));
        Assert.Equal(0, backend.Creates);
    }

    [Fact]
    public async Task An_unreachable_store_fails_host_start_by_default()
    {
        var backend = new CountingBackend { FailuresBeforeSuccess = int.MaxValue };
        await using var provider = new ServiceCollection()
            .AddKvStore(o => o.Backend = "counting").AddBackend(backend)
            .Services.BuildServiceProvider();
        var connector = provider.GetServices<IHostedService>().OfType<KvStoreConnector>().Single();
        var e = await Assert.ThrowsAsync<KvException>(() => connector.StartAsync(CancellationToken.None));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
    }

    [Fact]
    public async Task RetryInBackground_starts_the_host_and_connects_when_the_server_answers()
    {
        var backend = new CountingBackend { FailuresBeforeSuccess = 1 };
        await using var provider = new ServiceCollection()
            .AddKvStore(o => o.Backend = "counting").AddBackend(backend).WithStartup(KvStoreStartup.RetryInBackground)
            .Services.BuildServiceProvider();
        var connector = provider.GetServices<IHostedService>().OfType<KvStoreConnector>().Single();
        await connector.StartAsync(CancellationToken.None);
        var store = (DeferredStore)provider.GetRequiredService<IStore>();
        var end = DateTime.UtcNow.AddSeconds(20);
        while (store.Store is null)
        {
            Assert.True(DateTime.UtcNow < end, "the store never connected");
            await Task.Delay(20);
        }

        Assert.Equal(2, backend.Creates);
        await connector.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Named_stores_are_keyed_services_and_never_merged()
    {
        var services = new ServiceCollection();
        services.AddKvStore(o => o.Endpoints = ["main-" + Guid.NewGuid().ToString("N")]);
        services.AddKvStore("orders", o => o.Endpoints = ["orders-" + Guid.NewGuid().ToString("N")]);
        Assert.Throws<InvalidOperationException>(() => services.AddKvStore(o => o.Backend = "memory"));
        Assert.Throws<InvalidOperationException>(() => services.AddKvStore("orders", o => o.Backend = "memory"));
        await using var provider = services.BuildServiceProvider();
        var main = provider.GetRequiredService<IStore>();
        var orders = provider.GetRequiredKeyedService<IStore>("orders");
        Assert.NotSame(main, orders);
        await orders.PutAsync("o/1", "x"u8.ToArray());
        Assert.False(await main.ExistsAsync("o/1"));
        Assert.True(await orders.ExistsAsync("o/1"));
        Assert.Equal(2, provider.GetServices<KvStoreRegistration>().Count());
    }

    [Fact]
    public void The_validator_knows_the_backends_of_the_container_not_only_the_default_factory()
    {
        using var provider = new ServiceCollection()
            .AddKvStore(o => o.Backend = "counting").AddBackend(new CountingBackend())
            .Services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();
        Assert.Equal("counting", provider.GetRequiredService<IOptions<StoreOptions>>().Value.Backend);
        Assert.Contains("counting", provider.GetRequiredService<StoreFactory>().Backends);
        Assert.DoesNotContain("counting", StoreFactory.Default.Backends);
    }

    [Fact]
    public async Task Health_is_healthy_when_the_store_answers_and_unhealthy_when_it_cannot_connect()
    {
        var services = new ServiceCollection();
        services.AddKvStore(o => o.Backend = "memory");
        services.AddKvStore("down", o => o.Backend = "counting").AddBackend(new CountingBackend { FailuresBeforeSuccess = int.MaxValue });
        services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
        services.AddHealthChecks().AddKvStore().AddKvStore("down");
        await using var provider = services.BuildServiceProvider();
        var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, report.Entries["kvstore"].Status);
        Assert.Equal(HealthStatus.Unhealthy, report.Entries["kvstore-down"].Status);
        Assert.Contains("not connected", report.Entries["kvstore-down"].Description);
    }

    [Fact]
    public async Task Disposing_the_container_disposes_the_connected_store()
    {
        var backend = new CountingBackend();
        var provider = new ServiceCollection()
            .AddKvStore(o => o.Backend = "counting").AddBackend(backend).WithStartup(KvStoreStartup.OnFirstUse)
            .Services.BuildServiceProvider();
        var store = provider.GetRequiredService<IStore>();
        await store.PutAsync("k", "v"u8.ToArray());
        await provider.DisposeAsync();
        Assert.True(backend.Last!.Disposed);
    }

    /// <summary>A backend over memory that counts creations and can fail the first ones.</summary>
    private sealed class CountingBackend : IKvBackendRegistration
    {
        private int _creates;

        public int FailuresBeforeSuccess { get; init; }

        public int Creates => Volatile.Read(ref _creates);

        public TrackedStore? Last { get; private set; }

        public void Register(StoreFactory factory) => factory.Register("counting", (options, _) =>
        {
            if (Interlocked.Increment(ref _creates) <= FailuresBeforeSuccess)
            {
                throw KvException.Unavailable("counting backend: no server at " + string.Join(",", options.Endpoints));
            }

            Last = new TrackedStore(new MemoryStore());
            return ValueTask.FromResult<IStore>(Last);
        });
    }

    /// <summary>Forwards to a memory store and remembers whether it was disposed.</summary>
    private sealed class TrackedStore(MemoryStore inner) : IStore
    {
        public bool Disposed { get; private set; }

        public string Backend => "counting";

        public IObservable<StoreState> States => inner.States;

        public ValueTask PutAsync(string key, ReadOnlyMemory<byte> value, WriteOptions? options = null, CancellationToken cancellationToken = default) => inner.PutAsync(key, value, options, cancellationToken);

        public ValueTask<KVPair> GetAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default) => inner.GetAsync(key, options, cancellationToken);

        public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);

        public ValueTask<bool> ExistsAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default) => inner.ExistsAsync(key, options, cancellationToken);

        public ValueTask<IReadOnlyList<KVPair>> ListAsync(string directory, ReadOptions? options = null, CancellationToken cancellationToken = default) => inner.ListAsync(directory, options, cancellationToken);

        public ValueTask DeleteTreeAsync(string directory, CancellationToken cancellationToken = default) => inner.DeleteTreeAsync(directory, cancellationToken);

        public ValueTask<KVPair> AtomicPutAsync(string key, ReadOnlyMemory<byte> value, KVPair? previous, WriteOptions? options = null, CancellationToken cancellationToken = default) => inner.AtomicPutAsync(key, value, previous, options, cancellationToken);

        public ValueTask AtomicDeleteAsync(string key, KVPair previous, CancellationToken cancellationToken = default) => inner.AtomicDeleteAsync(key, previous, cancellationToken);

        public IObservable<KVPair?> Watch(string key, ReadOptions? options = null) => inner.Watch(key, options);

        public IObservable<IReadOnlyList<KVPair>> WatchTree(string directory, ReadOptions? options = null) => inner.WatchTree(directory, options);

        public ILocker NewLock(string key, LockOptions? options = null) => inner.NewLock(key, options);

        public async ValueTask DisposeAsync()
        {
            Disposed = true;
            await inner.DisposeAsync();
        }
    }
}
