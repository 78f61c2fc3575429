using LibKv.Conformance;
using Xunit;

namespace LibKv.Etcd.Tests;

public sealed class EtcdKeyTests(EtcdFixture f) : KeyTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdBasicOpsTests(EtcdFixture f) : BasicOpsTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdAtomicTests(EtcdFixture f) : AtomicTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdTtlTests(EtcdFixture f) : TtlTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdWatchTests(EtcdFixture f) : WatchTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdLockTests(EtcdFixture f) : LockTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdErrorTests(EtcdFixture f) : ErrorTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdCounterTests(EtcdFixture f) : CounterTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdServiceRegistryTests(EtcdFixture f) : ServiceRegistryTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdLeaderElectionTests(EtcdFixture f) : LeaderElectionTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdSemaphoreTests(EtcdFixture f) : SemaphoreTests(f), IClassFixture<EtcdFixture>;

public sealed class EtcdFencedWriteTests(EtcdFixture f) : FencedWriteTests(f), IClassFixture<EtcdFixture>;
