using System.Globalization;
using System.Text.RegularExpressions;

namespace LibKv.Cli.Tests;

public sealed class DemoTests
{
    [Fact]
    public async Task Demo_on_memory_tells_the_whole_story_and_exits_0()
    {
        var cli = await Cli.RunAsync("demo");

        Assert.True(cli.ExitCode == 0, "demo failed:\n" + cli.Out.Text + cli.Err.Text);
        Assert.Equal("", cli.Err.Text);
        var lines = cli.Out.Lines;
        Assert.All(lines.Skip(1).SkipLast(1), l => Assert.Matches(@"^\[\+\d+\.\ds\] ", l));
        for (var step = 1; step <= 5; step++)
        {
            Assert.Contains(lines, l => Regex.IsMatch(l, $@"^\[\+\d+\.\ds\] {step}\. "));
        }

        var both = Array.FindIndex(lines, l => l.EndsWith("discovery sees: web-1, web-2", StringComparison.Ordinal));
        var gone = Array.FindIndex(lines, l => l.Contains("web-2 is gone", StringComparison.Ordinal));
        var onlyWeb1 = Array.FindLastIndex(lines, gone, l => l.EndsWith("discovery sees: web-1", StringComparison.Ordinal));
        Assert.True(both >= 0 && gone > both && onlyWeb1 > both, cli.Out.Text);

        var tokens = lines
            .Select(l => Regex.Match(l, @"(worker-\d) acquired the lock, fencing token (\d+)"))
            .Where(m => m.Success)
            .Select(m => (Worker: m.Groups[1].Value, Token: ulong.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)))
            .ToArray();
        Assert.Equal(["worker-1", "worker-2", "worker-3"], tokens.Select(t => t.Worker));
        Assert.True(tokens[0].Token > 0 && tokens[1].Token > tokens[0].Token && tokens[2].Token > tokens[1].Token, cli.Out.Text);
        Assert.Contains(lines, l => l.Contains($"old token {tokens[0].Token} is refused", StringComparison.Ordinal));

        var versions = lines
            .Select(l => Regex.Match(l, @"config watcher sees 'version=(\d)"))
            .Where(m => m.Success)
            .Select(m => m.Groups[1].Value)
            .ToArray();
        Assert.Equal(["1", "2", "3"], versions);
        Assert.Contains(lines, l => l.Contains("config watcher: settings deleted", StringComparison.Ordinal));
    }
}
