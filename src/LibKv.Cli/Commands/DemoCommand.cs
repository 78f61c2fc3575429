using System.CommandLine;
using LibKv.Cli.Demo;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv demo</c>: a guided tour (discovery, TTL expiry, fenced locks, config watch) on memory or a real server.</summary>
internal static class DemoCommand
{
    public static Command Create(CliContext context)
    {
        var ttl = Durations.NullableOption("--ttl", "TTL of the service registrations (default 1s on memory, 10s elsewhere; Consul needs at least 10s).");
        var command = new Command("demo", "Tell the story of service discovery, expiry, fenced locks and config watches on the chosen backend.") { ttl };
        context.SetAction(command, async (parseResult, cancellationToken) =>
        {
            var options = context.Connection.Read(parseResult);
            var memory = ConnectionOptions.IsMemory(options.Backend);
            var tour = new DemoTour(new StoryWriter(context), options, parseResult.GetValue(ttl) ?? TimeSpan.FromSeconds(memory ? 1 : 10));
            await tour.RunAsync(cancellationToken).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
