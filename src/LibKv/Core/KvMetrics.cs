using System.Diagnostics.Metrics;

namespace LibKv.Core;

/// <summary>The library's instruments (meter "LibKv"); near free when nothing listens.</summary>
public static class KvMetrics
{
    /// <summary>The meter name to listen to.</summary>
    public const string MeterName = "LibKv";

    private static readonly Meter s_meter = new(MeterName, "1.0");

    /// <summary>The meter every LibKv instrument lives on.</summary>
    public static Meter Meter => s_meter;

    /// <summary>Connection state changes of stores, tagged with <c>backend</c> and <c>state</c> (reconnects, lost sessions).</summary>
    public static readonly Counter<long> StateChanges = s_meter.CreateCounter<long>("libkv.store.state_changes", description: "Connection state changes of stores.");

    /// <summary>Store calls, tagged with <c>backend</c> and <c>operation</c>.</summary>
    public static readonly Counter<long> Operations = s_meter.CreateCounter<long>("libkv.operations", description: "Store calls made.");

    /// <summary>Watch states delivered to subscribers, tagged with <c>backend</c>.</summary>
    public static readonly Counter<long> WatchStates = s_meter.CreateCounter<long>("libkv.watch.states", description: "Watch states delivered.");

    /// <summary>Locks acquired and lost, tagged with <c>backend</c> and <c>event</c>.</summary>
    public static readonly Counter<long> LockEvents = s_meter.CreateCounter<long>("libkv.lock.events", description: "Lock holds acquired, released and lost.");

    internal static void Operation(string backend, string operation)
    {
        if (Operations.Enabled)
        {
            Operations.Add(1, new KeyValuePair<string, object?>("backend", backend), new KeyValuePair<string, object?>("operation", operation));
        }
    }
}
