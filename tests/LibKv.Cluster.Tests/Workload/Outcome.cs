using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace LibKv.Cluster.Tests.Workload;

/// <summary>How a workload reads a failed write, and the small helpers the workloads share.</summary>
internal static class Outcome
{
    /// <summary>The longest one call of a workload may take before the workload gives up on it (far above RequestTimeout).</summary>
    public static readonly TimeSpan CallBound = TimeSpan.FromSeconds(30);

    /// <summary>
    /// True when the failed write certainly did not happen (the server refused it on its version check); anything
    /// else (Unavailable with or without OutcomeUnknown, a timeout, a cancellation) may have been applied.
    /// </summary>
    public static bool CertainlyNotApplied(Exception e) =>
        e is KvException { Code: KvErrorCode.KeyModified or KvErrorCode.KeyExists or KvErrorCode.KeyNotFound };

    /// <summary>A decimal value as stored.</summary>
    public static byte[] Encode(long value) => Encoding.ASCII.GetBytes(value.ToString(CultureInfo.InvariantCulture));

    /// <summary>The decimal value of a stored pair.</summary>
    public static long Decode(byte[] value) => long.Parse(Encoding.ASCII.GetString(value), CultureInfo.InvariantCulture);

    /// <summary>Waits <paramref name="ms"/> between calls (a workload's pace, not a timing assumption); returns early on stop.</summary>
    public static async Task PaceAsync(int ms, CancellationToken stop)
    {
        try
        {
            await Task.Delay(ms, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A token cancelled by <paramref name="stop"/> or after <see cref="CallBound"/>.</summary>
    public static CancellationTokenSource Bound(CancellationToken stop)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        cts.CancelAfter(CallBound);
        return cts;
    }
}

/// <summary>Distinct error kinds a workload met, with counts, for the test output.</summary>
public sealed class ErrorTally
{
    private readonly ConcurrentDictionary<string, int> _counts = new();

    /// <summary>Counts <paramref name="e"/> under its type, code and (shortened) message.</summary>
    public void Add(Exception e)
    {
        var message = e.Message.Length > 140 ? e.Message[..140] : e.Message;
        var what = e is KvException k ? $"KvException({k.Code}{(k.OutcomeUnknown ? ", OutcomeUnknown" : string.Empty)})" : e.GetType().Name;
        _counts.AddOrUpdate($"{what}: {message}", 1, (_, n) => n + 1);
    }

    /// <inheritdoc />
    public override string ToString() =>
        _counts.IsEmpty ? "none" : string.Join("\n    ", _counts.OrderByDescending(kv => kv.Value).Take(8).Select(kv => $"{kv.Value} × {kv.Key}"));
}
