using System.Globalization;

namespace LibKv.Cli.Tests;

public sealed class BenchTests
{
    [Theory]
    [InlineData("get")]
    [InlineData("put")]
    [InlineData("cas")]
    [InlineData("watch")]
    public async Task Bench_on_memory_prints_a_summary_with_ops_per_second(string op)
    {
        var cli = await Cli.RunAsync("bench", "--op", op, "--concurrency", "2", "--duration", "1", "--warmup", "200ms", "--keys", "50");

        Assert.True(cli.ExitCode == 0, cli.Out.Text + cli.Err.Text);
        var lines = cli.Out.Lines;
        var header = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var row = lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(op, row[0]);
        var opsPerSecond = double.Parse(row[Array.IndexOf(header, "ops/s")], CultureInfo.InvariantCulture);
        Assert.True(opsPerSecond > 0, cli.Out.Text);
        Assert.Contains("p99", header);
        Assert.Equal("0", row[Array.IndexOf(header, "errors")]);
        if (op == "cas")
        {
            Assert.Contains("conflicts", header);
        }
    }
}
