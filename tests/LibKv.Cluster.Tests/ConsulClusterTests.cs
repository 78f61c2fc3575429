using LibKv.Cluster.Tests.Servers;
using Xunit.Abstractions;

namespace LibKv.Cluster.Tests;

/// <summary>The fault scenario on a 3-node Consul cluster.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ConsulClusterTests : ClusterScenario
{
    public ConsulClusterTests(ITestOutputHelper output)
        : base(output)
    {
    }

    [Fact]
    public Task Nothing_acknowledged_is_lost_through_leader_kill_pause_and_full_restart() => RunAsync();

    protected override ServerCluster CreateCluster() => new ConsulCluster();
}
