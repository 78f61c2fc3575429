namespace LibKv.Cli.Bench;

/// <summary>What one worker measured; written only by that worker, read after it stopped.</summary>
internal sealed class WorkerStats
{
    public LatencyHistogram Latency { get; } = new();

    public long Succeeded { get; set; }

    public long Conflicts { get; set; }

    public long Errors { get; set; }

    public string? FirstError { get; set; }

    public void Merge(WorkerStats other)
    {
        Latency.Merge(other.Latency);
        Succeeded += other.Succeeded;
        Conflicts += other.Conflicts;
        Errors += other.Errors;
        FirstError ??= other.FirstError;
    }
}
