using LibKv.Consul;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the <c>consul</c> backend to a container's store factory, by reference rather than by assembly name.</summary>
public static class ConsulKvStoreBuilderExtensions
{
    /// <summary>Makes <c>consul</c> known to the stores of this container.</summary>
    /// <code>services.AddKvStore(configuration.GetSection("KvStore")).AddConsul();</code>
    public static KvStoreBuilder AddConsul(this KvStoreBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddBackend(new ConsulRegistration());
    }
}
