namespace LibKv.Cluster.Tests;

/// <summary>The cluster scenarios run one at a time: three clusters at once would starve a 2-core machine.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "clusters";
}
