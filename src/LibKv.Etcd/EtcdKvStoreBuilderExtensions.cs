using LibKv.Etcd;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the <c>etcd</c> backend to a container's store factory, by reference rather than by assembly name.</summary>
public static class EtcdKvStoreBuilderExtensions
{
    /// <summary>Makes <c>etcd</c> known to the stores of this container.</summary>
    /// <code>services.AddKvStore(configuration.GetSection("KvStore")).AddEtcd();</code>
    public static KvStoreBuilder AddEtcd(this KvStoreBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddBackend(new EtcdRegistration());
    }
}
