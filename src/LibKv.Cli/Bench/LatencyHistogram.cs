using System.Diagnostics;
using System.Numerics;

namespace LibKv.Cli.Bench;

/// <summary>
/// A fixed-size log-linear latency histogram (about 3 % precision, nanoseconds up to centuries) that records without
/// allocating; one per worker, merged at the end.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 5;
    private const int SubBuckets = 1 << SubBucketBits;          // 32 sub-buckets per power of two
    private const int LinearLimit = SubBuckets * 2;             // values below 64 ns are exact
    private const int BucketCount = LinearLimit + (63 - SubBucketBits) * SubBuckets;

    private readonly long[] _counts = new long[BucketCount];

    public long Count { get; private set; }

    public long MaxNanoseconds { get; private set; }

    public double SumNanoseconds { get; private set; }

    public double MeanNanoseconds => Count == 0 ? 0 : SumNanoseconds / Count;

    /// <summary>Records the time since <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/> value).</summary>
    public void RecordSince(long startTimestamp) => Record(ToNanoseconds(Stopwatch.GetTimestamp() - startTimestamp));

    public void Record(long nanoseconds)
    {
        if (nanoseconds < 0)
        {
            nanoseconds = 0;
        }

        _counts[IndexOf(nanoseconds)]++;
        Count++;
        SumNanoseconds += nanoseconds;
        if (nanoseconds > MaxNanoseconds)
        {
            MaxNanoseconds = nanoseconds;
        }
    }

    public void Merge(LatencyHistogram other)
    {
        for (var i = 0; i < BucketCount; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        SumNanoseconds += other.SumNanoseconds;
        MaxNanoseconds = Math.Max(MaxNanoseconds, other.MaxNanoseconds);
    }

    /// <summary>The latency at or below which <paramref name="percentile"/> % of the recorded values lie (upper bucket bound, capped at the max).</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = Math.Max(1, (long)Math.Ceiling(percentile / 100.0 * Count));
        long seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(UpperBound(i), MaxNanoseconds);
            }
        }

        return MaxNanoseconds;
    }

    public static long ToNanoseconds(long stopwatchTicks) =>
        Stopwatch.Frequency == 1_000_000_000 ? stopwatchTicks : (long)(stopwatchTicks * (1_000_000_000.0 / Stopwatch.Frequency));

    internal static int IndexOf(long value)
    {
        if (value < LinearLimit)
        {
            return (int)value;
        }

        var msb = 63 - BitOperations.LeadingZeroCount((ulong)value);
        var shift = msb - SubBucketBits;                        // >= 1 here
        var top = (int)(value >> shift);                          // in [32, 63]
        return LinearLimit + ((shift - 1) * SubBuckets) + (top - SubBuckets);
    }

    internal static long UpperBound(int index)
    {
        if (index < LinearLimit)
        {
            return index;
        }

        var shift = ((index - LinearLimit) / SubBuckets) + 1;
        var top = ((index - LinearLimit) % SubBuckets) + SubBuckets;
        return ((long)(top + 1) << shift) - 1;
    }
}
