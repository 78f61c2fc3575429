namespace LibKv.Conformance;

/// <summary>What a backend gives the conformance suite: clients of one fresh store on a real server.</summary>
public interface IKvFixture
{
    /// <summary>The canonical backend name, as in <see cref="StoreFactory.Backends"/>.</summary>
    string Backend { get; }

    /// <summary>
    /// Opens <paramref name="count"/> independent clients (separate connections and sessions, as separate processes
    /// would have) of one fresh, empty keyspace, created through <see cref="StoreFactory.Default"/>.
    /// </summary>
    Task<IStore[]> CreateClientsAsync(int count, Action<StoreOptions>? configure = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Ends <paramref name="client"/>'s server-side session or lease as a long partition or pause would
    /// (its keep-alive keys go, its locks are lost), leaving the store usable afterwards.
    /// </summary>
    Task ExpireSessionAsync(IStore client);

    /// <summary>The short TTL the TTL, watch and lock tests use (keys and lock leases); the test server must honour it.</summary>
    TimeSpan Ttl => TimeSpan.FromSeconds(1);

    /// <summary>True when the backend serves lock waiters first come, first served (memory, etcd, ZooKeeper).</summary>
    bool OrdersLockWaiters => true;
}
