using LibKv;
using LibKv.Etcd;

[assembly: KvBackend(typeof(EtcdRegistration))]

namespace LibKv.Etcd;

/// <summary>Registers the "etcd" backend on <see cref="StoreFactory.Default"/> when this assembly is referenced.</summary>
public sealed class EtcdRegistration : IKvBackendRegistration
{
    /// <inheritdoc />
    public void Register(StoreFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        factory.Register(EtcdStore.BackendName, static async (options, ct) => await EtcdStore.CreateAsync(options, ct).ConfigureAwait(false));
    }
}
