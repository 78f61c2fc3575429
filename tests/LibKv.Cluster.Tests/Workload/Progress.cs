using System.Collections.Concurrent;

namespace LibKv.Cluster.Tests.Workload;

/// <summary>
/// Lets the workload run between faults: waits until every writer has had more Puts acknowledged, the counter more
/// increments and the lock more holds. Not an assertion: a backend that stalls past the deadline is logged and the
/// scenario goes on (the final checks judge it).
/// </summary>
public sealed class Progress
{
    private const int WritesPerPhase = 25;
    private readonly IReadOnlyList<KeyWriter> _writers;
    private readonly IReadOnlyList<CasIncrementer> _counters;
    private readonly ConcurrentQueue<Hold> _holds;

    public Progress(IReadOnlyList<KeyWriter> writers, IReadOnlyList<CasIncrementer> counters, ConcurrentQueue<Hold> holds)
    {
        _writers = writers;
        _counters = counters;
        _holds = holds;
    }

    /// <summary>Waits for progress of every part of the workload, at most <paramref name="deadline"/>.</summary>
    public async Task WaitAsync(string phase, TimeSpan deadline, Action<string> log, CancellationToken cancellationToken)
    {
        var writes = _writers.Select(w => w.Acked).ToList();
        var increments = _counters.Sum(c => c.Acked);
        var holds = _holds.Count;
        var started = DateTime.UtcNow;
        bool Done() =>
            _writers.Select((w, i) => w.Acked - writes[i]).All(n => n >= WritesPerPhase)
            && _counters.Sum(c => c.Acked) - increments >= WritesPerPhase / 2
            && _holds.Count - holds >= 3;
        var ok = await Poll.UntilAsync(() => Task.FromResult(Done()), deadline, cancellationToken);
        log($"{phase}: {(ok ? "workload progressed" : "NO full progress")} in {(DateTime.UtcNow - started).TotalSeconds:0.0} s " +
            $"(writes +{string.Join("/", _writers.Select((w, i) => w.Acked - writes[i]))}, increments +{_counters.Sum(c => c.Acked) - increments}, holds +{_holds.Count - holds})");
    }
}
