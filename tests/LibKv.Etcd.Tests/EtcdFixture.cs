using LibKv.Conformance;

namespace LibKv.Etcd.Tests;

/// <summary>Clients of a fresh store (a unique Root) on the one etcd server shared by the whole test assembly.</summary>
public sealed class EtcdFixture : IKvFixture
{
    private static readonly Lazy<Task<EtcdServer>> s_server = new(EtcdServer.StartAsync);

    public string Backend => EtcdStore.BackendName;

    public static Task<EtcdServer> SharedServerAsync() => s_server.Value;

    public async Task<IStore[]> CreateClientsAsync(int count, Action<StoreOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var server = await SharedServerAsync();
        var root = FixtureClients.FreshRoot();
        return await FixtureClients.CreateAsync(count, () => new StoreOptions { Backend = Backend, Endpoints = { server.Endpoint }, Root = root }, configure, cancellationToken);
    }

    /// <summary>Revokes the client's leases from another client, as a partition past their TTL would.</summary>
    public async Task ExpireSessionAsync(IStore client)
    {
        var server = await SharedServerAsync();
        await using var admin = await EtcdStore.CreateAsync(new StoreOptions { Endpoints = { server.Endpoint } });
        foreach (var id in ((EtcdStore)client).LeaseIds)
        {
            try
            {
                await admin.Connection.RevokeAsync(id, CancellationToken.None);
            }
            catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound)
            {
            }
        }
    }
}
