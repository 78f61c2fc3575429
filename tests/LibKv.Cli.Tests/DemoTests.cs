using System.Globalization;
using System.Text.RegularExpressions;

namespace LibKv.Cli.Tests;

public sealed class DemoTests
{
    [Fact]
    public async Task Demo_on_consul_follows_the_order_the_lock_serves_and_never_waits_on_one_it_does_not_promise()
    {
        // Consul's lock waiters are not FIFO: the tour must report whoever gets the lock next, on every run.
        await using var consul = await LibKv.Consul.Tests.ConsulServer.StartAsync(dev: true);
        for (var run = 0; run < 3; run++)
        {
            var cli = await Cli.RunAsync("demo", "--backend", "consul", "--endpoints", consul.Endpoint);
            Assert.True(cli.ExitCode == 0, "demo failed:\n" + cli.Out.Text + cli.Err.Text);
            var lines = cli.Out.Lines;
            Assert.Contains(lines, l => l.Contains("Consul serves waiters in no set order", StringComparison.Ordinal));
            var tokens = Tokens(lines);
            Assert.Equal(3, tokens.Select(t => t.Worker).Distinct().Count());
            Assert.Equal("worker-1", tokens[0].Worker);
            Assert.True(tokens[1].Token > tokens[0].Token && tokens[2].Token > tokens[1].Token, cli.Out.Text);
            for (var i = 0; i < 3; i++)
            {
                // Each holder releases before the next one acquires.
                var released = Array.FindIndex(lines, l => l.EndsWith(tokens[i].Worker + " released the lock", StringComparison.Ordinal));
                var acquired = Array.FindIndex(lines, l => l.Contains(tokens[i].Worker + " acquired the lock", StringComparison.Ordinal));
                Assert.True(released > acquired, cli.Out.Text);
                if (i < 2)
                {
                    Assert.True(released < Array.FindIndex(lines, l => l.Contains(tokens[i + 1].Worker + " acquired the lock", StringComparison.Ordinal)), cli.Out.Text);
                }
            }
        }
    }

    private static (string Worker, ulong Token)[] Tokens(string[] lines) => lines
        .Select(l => Regex.Match(l, @"(worker-\d) acquired the lock, fencing token (\d+)"))
        .Where(m => m.Success)
        .Select(m => (Worker: m.Groups[1].Value, Token: ulong.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)))
        .ToArray();

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
