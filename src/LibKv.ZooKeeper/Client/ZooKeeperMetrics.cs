using System.Diagnostics.Metrics;

namespace LibKv.ZooKeeper.Client;

/// <summary>Counters of the ZooKeeper client (meter "LibKv.ZooKeeper").</summary>
internal static class ZooKeeperMetrics
{
    private static readonly Meter s_meter = new("LibKv.ZooKeeper");

    /// <summary>Requests sent.</summary>
    public static readonly Counter<long> Requests = s_meter.CreateCounter<long>("libkv.zookeeper.requests", description: "Requests sent to ZooKeeper.");

    /// <summary>Connections established (first connect and reconnects).</summary>
    public static readonly Counter<long> Connections = s_meter.CreateCounter<long>("libkv.zookeeper.connections", description: "Connections established.");

    /// <summary>Sessions found expired or presumed lost.</summary>
    public static readonly Counter<long> SessionsLost = s_meter.CreateCounter<long>("libkv.zookeeper.sessions_lost", description: "Sessions expired or presumed lost.");
}
