using LibKv.Cluster.Tests.Servers;
using Xunit.Abstractions;

namespace LibKv.Cluster.Tests;

/// <summary>The fault scenario's checks on a 3-node Etcd cluster (one run shared by every test here).</summary>
[Collection(ClusterCollection.Name)]
public sealed class EtcdClusterTests(ClusterRun<EtcdCluster> run, ITestOutputHelper output)
    : ClusterScenarioTests<EtcdCluster>(run, output), IClassFixture<ClusterRun<EtcdCluster>>;
