using System.CommandLine;
using LibKv.Cli.Bench;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv bench</c>: load against any backend; prints ops/s and latency percentiles.</summary>
internal static class BenchCommand
{
    public static Command Create(CliContext context)
    {
        var op = new Option<string>("--op") { Description = "get, put, cas (read-modify-write of one counter) or watch (put → notification).", DefaultValueFactory = _ => "get" };
        op.AcceptOnlyFromAmong(BenchSettings.Ops);
        var concurrency = new Option<int>("--concurrency", "-c") { Description = "Concurrent workers (for watch: key/watch pairs).", DefaultValueFactory = _ => 4 };
        var clients = new Option<int>("--clients") { Description = "Independent store clients the workers are spread over.", DefaultValueFactory = _ => 1 };
        var duration = Durations.Option("--duration", "Measured time, e.g. 10 or 10s.", TimeSpan.FromSeconds(10));
        var warmup = Durations.Option("--warmup", "Unmeasured warm-up before it.", TimeSpan.FromSeconds(1));
        var valueSize = new Option<int>("--value-size") { Description = "Value size in bytes.", DefaultValueFactory = _ => 100 };
        var keys = new Option<int>("--keys") { Description = "Distinct keys for get and put.", DefaultValueFactory = _ => 1000 };
        var command = new Command("bench", "Drive a backend with concurrent operations for a while; print ops/s and latency p50/p99/max.")
        {
            op, concurrency, clients, duration, warmup, valueSize, keys,
        };
        context.SetAction(command, async (parseResult, cancellationToken) =>
        {
            var settings = new BenchSettings(
                parseResult.GetValue(op)!,
                Positive(parseResult.GetValue(concurrency), "--concurrency"),
                Positive(parseResult.GetValue(clients), "--clients"),
                parseResult.GetValue(duration),
                parseResult.GetValue(warmup),
                Math.Max(0, parseResult.GetValue(valueSize)),
                Positive(parseResult.GetValue(keys), "--keys"));
            var result = await new LoadRunner(settings, context.Connection.Read(parseResult)).RunAsync(cancellationToken).ConfigureAwait(false);
            foreach (var line in result.Table())
            {
                context.WriteLine(line);
            }

            return result.Operations > 0 || result.Total.Errors == 0 ? ExitCodes.Ok : ExitCodes.Failure;
        });
        return command;
    }

    private static int Positive(int value, string name) => value > 0 ? value : throw new UsageException($"{name} must be at least 1");
}
