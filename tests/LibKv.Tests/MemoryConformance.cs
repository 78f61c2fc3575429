using LibKv.Conformance;
using LibKv.Memory;
using Xunit;

namespace LibKv.Tests;

/// <summary>Clients of one fresh memory data space per call, created through the factory like any backend.</summary>
public sealed class MemoryFixture : IKvFixture
{
    public string Backend => "memory";

    public async Task<IStore[]> CreateClientsAsync(int count, Action<StoreOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var space = "conformance-" + Guid.NewGuid().ToString("N");
        return await FixtureClients.CreateAsync(count, () => new StoreOptions { Backend = "memory", Endpoints = { space } }, configure, cancellationToken);
    }

    public Task ExpireSessionAsync(IStore client)
    {
        ((MemoryStore)client).ExpireSession();
        return Task.CompletedTask;
    }
}

public sealed class MemoryKeyTests(MemoryFixture f) : KeyTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryBasicOpsTests(MemoryFixture f) : BasicOpsTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryAtomicTests(MemoryFixture f) : AtomicTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryTtlTests(MemoryFixture f) : TtlTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryWatchTests(MemoryFixture f) : WatchTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryLockTests(MemoryFixture f) : LockTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryErrorTests(MemoryFixture f) : ErrorTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryCounterTests(MemoryFixture f) : CounterTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryServiceRegistryTests(MemoryFixture f) : ServiceRegistryTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryLeaderElectionTests(MemoryFixture f) : LeaderElectionTests(f), IClassFixture<MemoryFixture>;

public sealed class MemorySemaphoreTests(MemoryFixture f) : SemaphoreTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryFencedWriteTests(MemoryFixture f) : FencedWriteTests(f), IClassFixture<MemoryFixture>;

public sealed class MemoryConfigurationTests(MemoryFixture f) : ConfigurationTests(f), IClassFixture<MemoryFixture>;
