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
