namespace LibKv;

/// <summary>The connection state of a store, after Apache Curator's ConnectionState; see <see cref="IStore.States"/>.</summary>
public enum StoreState
{
    /// <summary>Connected with a live session.</summary>
    Connected,

    /// <summary>The connection is lost: calls fail or wait until it is back.</summary>
    Suspended,

    /// <summary>The connection is back (with the same session, or with a new one after <see cref="SessionLost"/>).</summary>
    Reconnected,

    /// <summary>The session or leases behind keep-alive keys and locks ended: locks are lost, keep-alive keys are written again.</summary>
    SessionLost,

    /// <summary>The store was disposed; the last state before OnCompleted.</summary>
    Closed,
}
