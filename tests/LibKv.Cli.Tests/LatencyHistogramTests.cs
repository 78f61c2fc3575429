using LibKv.Cli.Bench;

namespace LibKv.Cli.Tests;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void Every_value_lies_within_its_bucket_and_buckets_are_ordered()
    {
        var previous = -1;
        foreach (var value in new long[] { 0, 1, 63, 64, 65, 100, 1_000, 12_345, 999_999, 1_000_000_007, long.MaxValue / 2 })
        {
            var index = LatencyHistogram.IndexOf(value);
            Assert.True(index >= previous);
            Assert.True(LatencyHistogram.UpperBound(index) >= value);
            Assert.True(index == 0 || LatencyHistogram.UpperBound(index - 1) < value);
            Assert.True(LatencyHistogram.UpperBound(index) <= value + Math.Max(1, value / 16), $"{value} → {LatencyHistogram.UpperBound(index)}");
            previous = index;
        }
    }

    [Fact]
    public void Percentiles_of_merged_histograms_are_within_bucket_precision()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        for (var i = 1; i <= 1000; i++)
        {
            (i % 2 == 0 ? a : b).Record(i * 1_000L);
        }

        a.Merge(b);

        Assert.Equal(1000, a.Count);
        Assert.Equal(1_000_000, a.MaxNanoseconds);
        Assert.InRange(a.Percentile(50), 500_000, 500_000 * 1.04);
        Assert.InRange(a.Percentile(99), 990_000, 990_000 * 1.04);
        Assert.Equal(1_000_000, a.Percentile(100));
        Assert.Equal(500_500, a.MeanNanoseconds);
    }
}
