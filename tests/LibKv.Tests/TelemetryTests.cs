using System.Diagnostics;
using System.Diagnostics.Metrics;
using LibKv.Core;
using LibKv.Memory;
using Xunit;

namespace LibKv.Tests;

/// <summary>Store calls make one client activity each and record their duration, tagged after OpenTelemetry's database conventions.</summary>
[Collection(nameof(TelemetryTests))]
public sealed class TelemetryTests
{
    [Fact]
    public async Task Each_store_call_is_one_activity_and_one_duration_with_its_outcome()
    {
        var activities = new List<Activity>();
        using var activityListener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == KvTelemetry.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (activities) { activities.Add(a); } },
        };
        ActivitySource.AddActivityListener(activityListener);
        var durations = new List<(double Seconds, Dictionary<string, object?> Tags)>();
        using var meterListener = new MeterListener();
        meterListener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == KvMetrics.MeterName && instrument.Name == "db.client.operation.duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        meterListener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            var map = new Dictionary<string, object?>();
            foreach (var t in tags)
            {
                map[t.Key] = t.Value;
            }

            lock (durations)
            {
                durations.Add((value, map));
            }
        });
        meterListener.Start();

        await using var store = new MemoryStore();
        using var parent = new Activity("app-request").Start();
        await store.PutAsync("telemetry/k", "v"u8.ToArray());
        Assert.Same(parent, Activity.Current);
        await Assert.ThrowsAsync<KvException>(async () => await store.GetAsync("telemetry/missing"));
        parent.Stop();

        List<Activity> mine;
        lock (activities)
        {
            mine = activities.Where(a => a.ParentId == parent.Id).ToList();
        }

        Assert.Equal(new[] { "put memory", "get memory" }, mine.Select(a => a.DisplayName));
        Assert.All(mine, a => Assert.Equal(ActivityKind.Client, a.Kind));
        Assert.Equal("memory", mine[0].GetTagItem("db.system.name"));
        Assert.Equal("put", mine[0].GetTagItem("db.operation.name"));
        Assert.Equal(ActivityStatusCode.Error, mine[1].Status);
        Assert.Equal("KeyNotFound", mine[1].GetTagItem("error.type"));

        lock (durations)
        {
            Assert.Contains(durations, d => Equals(d.Tags["db.operation.name"], "put") && !d.Tags.ContainsKey("error.type") && d.Seconds >= 0);
            Assert.Contains(durations, d => Equals(d.Tags["db.operation.name"], "get") && Equals(d.Tags["error.type"], "KeyNotFound"));
        }
    }

    [Fact]
    public async Task State_changes_are_counted_by_state()
    {
        var seen = new List<string>();
        using var meterListener = new MeterListener();
        meterListener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == KvMetrics.MeterName && instrument.Name == "libkv.store.state_changes")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        meterListener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var t in tags)
            {
                if (t.Key == "state")
                {
                    lock (seen)
                    {
                        seen.Add((string)t.Value!);
                    }
                }
            }
        });
        meterListener.Start();
        await using var store = new MemoryStore();
        store.ExpireSession();
        lock (seen)
        {
            Assert.Contains("SessionLost", seen);
            Assert.Contains("Reconnected", seen);
        }
    }
}
