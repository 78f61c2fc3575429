using LibKv.Cluster.Tests.Servers;
using Xunit.Abstractions;

namespace LibKv.Cluster.Tests;

/// <summary>The fault scenario's checks on a 3-node ZooKeeper cluster (one run shared by every test here).</summary>
[Collection(ClusterCollection.Name)]
public sealed class ZooKeeperClusterTests : ClusterScenarioTests<ZooKeeperCluster>, IClassFixture<ClusterRun<ZooKeeperCluster>>
{
    public ZooKeeperClusterTests(ClusterRun<ZooKeeperCluster> run, ITestOutputHelper output)
        : base(run, output)
    {
    }

    [Fact]
    public Task No_acknowledged_write_is_lost() => CheckWritesAsync();

    [Fact]
    public Task Cas_counter_stays_between_acknowledged_and_acknowledged_plus_unknown() => CheckCounterAsync();

    [Fact]
    public void Fencing_tokens_strictly_increase_across_holds() => CheckFencing();

    [Fact]
    public Task Every_watch_ends_on_the_final_value() => CheckWatchesAsync();

    [Fact]
    public Task Every_keep_alive_key_is_present() => CheckKeepAlivesAsync();

    [Fact]
    public void A_value_going_back_is_a_late_write_of_unknown_outcome_never_a_resent_one() => CheckBackSteps();

    [Fact]
    public Task A_write_failed_as_not_sent_is_never_applied() => CheckNotSentAsync();

    [Fact]
    public void Every_call_ends_when_the_workload_is_cancelled() => CheckWorkloadStopped();
}
