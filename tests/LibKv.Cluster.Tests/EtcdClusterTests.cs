using LibKv.Cluster.Tests.Servers;
using Xunit.Abstractions;

namespace LibKv.Cluster.Tests;

/// <summary>The fault scenario on a 3-node Etcd cluster.</summary>
[Collection(ClusterCollection.Name)]
public sealed class EtcdClusterTests : ClusterScenario
{
    public EtcdClusterTests(ITestOutputHelper output)
        : base(output)
    {
    }

    [Fact]
    public Task Nothing_acknowledged_is_lost_through_leader_kill_pause_and_full_restart() => RunAsync();

    protected override ServerCluster CreateCluster() => new EtcdCluster();
}
