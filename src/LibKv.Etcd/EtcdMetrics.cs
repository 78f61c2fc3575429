using System.Diagnostics.Metrics;

namespace LibKv.Etcd;

/// <summary>The etcd backend's instruments (meter "LibKv.Etcd"); near free when nothing listens.</summary>
internal static class EtcdMetrics
{
    public const string MeterName = "LibKv.Etcd";

    private static readonly Meter s_meter = new(MeterName, "1.0");

    /// <summary>Calls retried (same or next endpoint) after a transient failure.</summary>
    public static readonly Counter<long> Retries = s_meter.CreateCounter<long>("libkv.etcd.retries", description: "gRPC calls retried after a transient failure.");

    /// <summary>Watch and keep-alive streams that broke and were re-opened, tagged with <c>stream</c>.</summary>
    public static readonly Counter<long> StreamReconnects = s_meter.CreateCounter<long>("libkv.etcd.stream_reconnects", description: "Streams re-opened after they broke.");

    /// <summary>Leases lost (expired, revoked or not renewed in time).</summary>
    public static readonly Counter<long> LeasesLost = s_meter.CreateCounter<long>("libkv.etcd.leases_lost", description: "Leases lost.");

    /// <summary>Watches that fell behind a compaction and read their key or range again.</summary>
    public static readonly Counter<long> WatchResyncs = s_meter.CreateCounter<long>("libkv.etcd.watch_resyncs", description: "Watches re-read after compaction.");

    public static void StreamBroken(string stream)
    {
        if (StreamReconnects.Enabled)
        {
            StreamReconnects.Add(1, new KeyValuePair<string, object?>("stream", stream));
        }
    }
}
