using System.Globalization;

namespace LibKv.Cli.Bench;

/// <summary>The merged figures of a run and the summary table that prints them.</summary>
internal sealed record BenchResult(BenchSettings Settings, string Backend, TimeSpan Elapsed, WorkerStats Total)
{
    /// <summary>True when Ctrl-C ended the measured window early.</summary>
    public bool Interrupted { get; init; }

    public long Operations => Total.Succeeded + Total.Conflicts;

    public double OpsPerSecond => Operations / Elapsed.TotalSeconds;

    public IEnumerable<string> Table()
    {
        var s = Settings;
        yield return $"libkv bench: {Backend} {s.Op}, concurrency {s.Concurrency}, clients {s.Clients}, {Durations.Format(Elapsed)} measured after {Durations.Format(s.Warmup)} warm-up, value {s.ValueSize} B, keys {s.Keys}{(Interrupted ? " (interrupted)" : "")}";
        var header = new List<string> { "op", "ops", "ops/s" };
        var row = new List<string> { s.Op, Operations.ToString(CultureInfo.InvariantCulture), OpsPerSecond.ToString("0", CultureInfo.InvariantCulture) };
        if (s.Op == "cas")
        {
            header.AddRange(["ok", "ok/s", "conflicts"]);
            row.AddRange([
                Total.Succeeded.ToString(CultureInfo.InvariantCulture),
                (Total.Succeeded / Elapsed.TotalSeconds).ToString("0", CultureInfo.InvariantCulture),
                Total.Conflicts.ToString(CultureInfo.InvariantCulture),
            ]);
        }

        header.AddRange(["errors", "p50", "p99", "max", "mean"]);
        row.AddRange([
            Total.Errors.ToString(CultureInfo.InvariantCulture),
            Latency(Total.Latency.Percentile(50)),
            Latency(Total.Latency.Percentile(99)),
            Latency(Total.Latency.MaxNanoseconds),
            Latency((long)Total.Latency.MeanNanoseconds),
        ]);
        var widths = header.Select((h, i) => Math.Max(h.Length, row[i].Length)).ToArray();
        yield return string.Join("  ", header.Select((h, i) => i < 1 ? h.PadRight(widths[i]) : h.PadLeft(widths[i])));
        yield return string.Join("  ", row.Select((c, i) => i < 1 ? c.PadRight(widths[i]) : c.PadLeft(widths[i])));
        if (Total.FirstError is { } error)
        {
            yield return "first error: " + error.ReplaceLineEndings(" ");
        }
    }

    /// <summary>"850 ns", "12.3 µs", "4.56 ms", "1.20 s".</summary>
    public static string Latency(long nanoseconds) =>
        nanoseconds < 1_000 ? $"{nanoseconds} ns"
        : nanoseconds < 1_000_000 ? (nanoseconds / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " µs"
        : nanoseconds < 1_000_000_000 ? (nanoseconds / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + " ms"
        : (nanoseconds / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " s";
}
