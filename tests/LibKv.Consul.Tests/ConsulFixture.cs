using LibKv.Conformance;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>Clients of a fresh Root (t/&lt;guid&gt;) on the shared dev agent, created through the factory.</summary>
public sealed class ConsulFixture : IKvFixture
{
    public string Backend => "consul";

    /// <summary>Consul has no waiter queue: a released lock goes to whichever waiter's request lands first.</summary>
    public bool OrdersLockWaiters => false;

    public async Task<IStore[]> CreateClientsAsync(int count, Action<StoreOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var server = await ConsulServer.Shared;
        var root = FixtureClients.FreshRoot();
        return await FixtureClients.CreateAsync(count, () => new StoreOptions { Backend = "consul", Endpoints = { server.Endpoint }, Root = root }, configure, cancellationToken);
    }

    public async Task ExpireSessionAsync(IStore client)
    {
        var server = await ConsulServer.Shared;
        await server.DestroySessionsAsync(((ConsulStore)client).SessionIds());
    }
}

public sealed class ConsulKeyTests(ConsulFixture f) : KeyTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulBasicOpsTests(ConsulFixture f) : BasicOpsTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulAtomicTests(ConsulFixture f) : AtomicTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulTtlTests(ConsulFixture f) : TtlTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulWatchTests(ConsulFixture f) : WatchTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulLockTests(ConsulFixture f) : LockTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulErrorTests(ConsulFixture f) : ErrorTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulCounterTests(ConsulFixture f) : CounterTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulServiceRegistryTests(ConsulFixture f) : ServiceRegistryTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulLeaderElectionTests(ConsulFixture f) : LeaderElectionTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulSemaphoreTests(ConsulFixture f) : SemaphoreTests(f), IClassFixture<ConsulFixture>;

public sealed class ConsulFencedWriteTests(ConsulFixture f) : FencedWriteTests(f), IClassFixture<ConsulFixture>;
