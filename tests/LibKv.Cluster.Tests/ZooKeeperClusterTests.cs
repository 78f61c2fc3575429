using LibKv.Cluster.Tests.Servers;
using Xunit.Abstractions;

namespace LibKv.Cluster.Tests;

/// <summary>The fault scenario's checks on a 3-node ZooKeeper cluster (one run shared by every test here).</summary>
[Collection(ClusterCollection.Name)]
public sealed class ZooKeeperClusterTests(ClusterRun<ZooKeeperCluster> run, ITestOutputHelper output)
    : ClusterScenarioTests<ZooKeeperCluster>(run, output), IClassFixture<ClusterRun<ZooKeeperCluster>>;
