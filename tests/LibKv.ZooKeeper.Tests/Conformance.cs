using LibKv.Conformance;
using Xunit;

namespace LibKv.ZooKeeper.Tests;

public sealed class ZooKeeperKeyTests(ZooKeeperFixture f) : KeyTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperBasicOpsTests(ZooKeeperFixture f) : BasicOpsTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperAtomicTests(ZooKeeperFixture f) : AtomicTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperTtlTests(ZooKeeperFixture f) : TtlTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperWatchTests(ZooKeeperFixture f) : WatchTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperLockTests(ZooKeeperFixture f) : LockTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperErrorTests(ZooKeeperFixture f) : ErrorTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperCounterTests(ZooKeeperFixture f) : CounterTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperServiceRegistryTests(ZooKeeperFixture f) : ServiceRegistryTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperLeaderElectionTests(ZooKeeperFixture f) : LeaderElectionTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperSemaphoreTests(ZooKeeperFixture f) : SemaphoreTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperConfigurationTests(ZooKeeperFixture f) : ConfigurationTests(f), IClassFixture<ZooKeeperFixture>;

public sealed class ZooKeeperFencedWriteTests(ZooKeeperFixture f) : FencedWriteTests(f), IClassFixture<ZooKeeperFixture>;
