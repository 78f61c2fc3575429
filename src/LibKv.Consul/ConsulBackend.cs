using LibKv;
using LibKv.Consul;

[assembly: KvBackend(typeof(ConsulBackend))]

namespace LibKv.Consul;

/// <summary>Registers the <c>consul</c> backend on a <see cref="StoreFactory"/>.</summary>
public sealed class ConsulBackend : IKvBackendRegistration
{
    /// <inheritdoc />
    public void Register(StoreFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        factory.Register(ConsulStore.BackendName, ConsulStore.CreateAsync);
    }
}
