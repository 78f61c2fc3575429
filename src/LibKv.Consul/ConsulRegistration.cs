using LibKv;
using LibKv.Consul;

[assembly: KvBackend(typeof(ConsulRegistration))]

namespace LibKv.Consul;

/// <summary>Registers the <c>consul</c> backend on a <see cref="StoreFactory"/>.</summary>
public sealed class ConsulRegistration : IKvBackendRegistration
{
    /// <inheritdoc />
    public void Register(StoreFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        factory.Register(ConsulStore.BackendName, ConsulStore.CreateAsync);
    }
}
