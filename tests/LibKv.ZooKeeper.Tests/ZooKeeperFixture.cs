using LibKv.Conformance;
using LibKv.ZooKeeper.Client;
using Microsoft.Extensions.Logging.Abstractions;

namespace LibKv.ZooKeeper.Tests;

/// <summary>Clients of a fresh root ("t/&lt;guid&gt;") on the shared test server, created through the factory.</summary>
public sealed class ZooKeeperFixture : IKvFixture
{
    public string Backend => ZooKeeperStore.BackendName;

    /// <summary>2 s, so that the 5 s sessions below can honour keep-alive keys and lock leases (2 × 2 s + 1 s).</summary>
    public TimeSpan Ttl => TimeSpan.FromSeconds(2);

    public async Task<IStore[]> CreateClientsAsync(int count, Action<StoreOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var server = await ZooKeeperServer.Shared;
        var root = FixtureClients.FreshRoot();
        return await FixtureClients.CreateAsync(
            count,
            () => new StoreOptions
            {
                Backend = "zookeeper",
                Endpoints = { server.Endpoint },
                Root = root,
                // The session is the lease of keep-alive keys and locks: 2 × Ttl + 1 s must cover it. A 5 s session
                // (replies awaited 3.3 s) rides out the stalls of a loaded 2-core CI machine; 2 s sessions did not.
                SessionTimeout = TimeSpan.FromSeconds(5),
                RequestTimeout = TimeSpan.FromSeconds(10),
            },
            configure,
            cancellationToken);
    }

    public Task ExpireSessionAsync(IStore client) => ExpireAsync((ZooKeeperStore)client);

    /// <summary>
    /// The classic expiry: a second connection opens the same session (id and password) and closes it; repeated
    /// until the store has moved to a new session.
    /// </summary>
    public static async Task ExpireAsync(ZooKeeperStore store)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        var id = store.Client.SessionId;
        var password = store.Client.SessionPassword;
        while (DateTime.UtcNow < until)
        {
            var parsed = store.Client.Endpoints.Split(", ").Select(e => (e[..e.LastIndexOf(':')], int.Parse(e[(e.LastIndexOf(':') + 1)..]))).ToList();
            var raw = new ZooKeeperClient(
                new ZooKeeperClientOptions { Hosts = parsed, SessionId = id, SessionPassword = password, SessionTimeout = TimeSpan.FromSeconds(4) },
                NullLogger.Instance);
            try
            {
                await raw.StartAsync(CancellationToken.None);
            }
            catch (KvException)
            {
                // Already expired.
            }

            await raw.DisposeAsync();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3);
            while (DateTime.UtcNow < deadline)
            {
                if (store.Client.SessionId != id && store.Client.SessionId != 0)
                {
                    return;
                }

                await Task.Delay(20);
            }
        }

        throw new TimeoutException("The session did not expire.");
    }
}
