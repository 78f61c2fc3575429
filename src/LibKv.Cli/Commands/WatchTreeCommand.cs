using System.CommandLine;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv watch-tree DIR</c>: prints every snapshot of a directory until Ctrl-C (or <c>--count</c> snapshots).</summary>
internal static class WatchTreeCommand
{
    public static Command Create(CliContext context)
    {
        var directory = new Argument<string>("directory") { Description = "The directory; the whole store when omitted.", DefaultValueFactory = _ => "" };
        var count = new Option<int>("--count", "-n") { Description = "Stop after this many snapshots (0: until Ctrl-C)." };
        var command = new Command("watch-tree", "Print the directory's current listing, then a fresh one after every change under it.") { directory, count };
        context.SetStoreAction(command, async (parseResult, store, cancellationToken) =>
        {
            var limit = parseResult.GetValue(count);
            var watch = store.WatchTree(parseResult.GetValue(directory) ?? "");
            var seen = 0;
            try
            {
                await foreach (var list in ObservableStream.ReadAsync(watch, cancellationToken).ConfigureAwait(false))
                {
                    seen++;
                    var lines = new List<string>(list.Count + 1) { $"snapshot {seen}: {list.Count} {(list.Count == 1 ? "key" : "keys")}" };
                    lines.AddRange(list.Select(pair => $"  {pair.Key}@{pair.LastIndex}: {ValueText.DescribeLine(pair.Value)}"));
                    context.WriteLine(string.Join(Environment.NewLine, lines));
                    if (seen == limit)
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
