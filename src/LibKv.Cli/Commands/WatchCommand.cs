using System.CommandLine;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv watch KEY</c>: prints every state of a key until Ctrl-C (or <c>--count</c> states).</summary>
internal static class WatchCommand
{
    public static Command Create(CliContext context)
    {
        var key = new Argument<string>("key") { Description = "The key to watch; it need not exist yet." };
        var count = new Option<int>("--count", "-n") { Description = "Stop after this many states (0: until Ctrl-C)." };
        var command = new Command("watch", "Print the key's current state, then each later one: 'key@index: value' or 'key: (absent)'.") { key, count };
        context.SetStoreAction(command, async (parseResult, store, cancellationToken) =>
        {
            var k = parseResult.GetValue(key)!;
            var limit = parseResult.GetValue(count);
            var watch = store.Watch(k);
            var seen = 0;
            try
            {
                await foreach (var pair in ObservableStream.ReadAsync(watch, cancellationToken).ConfigureAwait(false))
                {
                    context.WriteLine(pair is null ? $"{KeyPath.Normalize(k)}: (absent)" : $"{pair.Key}@{pair.LastIndex}: {ValueText.DescribeLine(pair.Value)}");
                    if (++seen == limit)
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
