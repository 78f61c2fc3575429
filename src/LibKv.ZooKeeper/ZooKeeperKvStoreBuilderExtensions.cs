using LibKv.ZooKeeper;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the <c>zookeeper</c> backend to a container's store factory, by reference rather than by assembly name.</summary>
public static class ZooKeeperKvStoreBuilderExtensions
{
    /// <summary>Makes <c>zookeeper</c> known to the stores of this container.</summary>
    /// <code>services.AddKvStore(configuration.GetSection("KvStore")).AddZooKeeper();</code>
    public static KvStoreBuilder AddZooKeeper(this KvStoreBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddBackend(new ZooKeeperRegistration());
    }
}
