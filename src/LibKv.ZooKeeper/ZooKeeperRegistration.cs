using LibKv;
using LibKv.ZooKeeper;

[assembly: KvBackend(typeof(ZooKeeperRegistration))]

namespace LibKv.ZooKeeper;

/// <summary>Registers <c>zookeeper</c> (alias <c>zk</c>) on a <see cref="StoreFactory"/>.</summary>
public sealed class ZooKeeperRegistration : IKvBackendRegistration
{
    /// <inheritdoc />
    public void Register(StoreFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        factory.Register(ZooKeeperStore.BackendName, static async (options, ct) => await ZooKeeperStore.ConnectAsync(options, ct).ConfigureAwait(false));
        factory.RegisterAlias("zk", ZooKeeperStore.BackendName);
    }
}
