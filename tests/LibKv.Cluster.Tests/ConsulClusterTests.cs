using LibKv.Cluster.Tests.Servers;
using Xunit.Abstractions;

namespace LibKv.Cluster.Tests;

/// <summary>The fault scenario's checks on a 3-node Consul cluster (one run shared by every test here).</summary>
[Collection(ClusterCollection.Name)]
public sealed class ConsulClusterTests(ClusterRun<ConsulCluster> run, ITestOutputHelper output)
    : ClusterScenarioTests<ConsulCluster>(run, output), IClassFixture<ClusterRun<ConsulCluster>>;
