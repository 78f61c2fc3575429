using System.CommandLine;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv ls [DIR]</c>: every key under a directory, at any depth.</summary>
internal static class ListCommand
{
    public static Command Create(CliContext context)
    {
        var directory = new Argument<string>("directory") { Description = "The directory; the whole store when omitted.", DefaultValueFactory = _ => "" };
        var longFormat = new Option<bool>("--long", "-l") { Description = "Print key, LastIndex and value, tab-separated." };
        var command = new Command("ls", "List every key under a directory, in key order (exit 2 when there is nothing).") { directory, longFormat };
        context.SetStoreAction(command, async (parseResult, store, cancellationToken) =>
        {
            var list = await store.ListAsync(parseResult.GetValue(directory) ?? "", cancellationToken: cancellationToken).ConfigureAwait(false);
            var full = parseResult.GetValue(longFormat);
            foreach (var pair in list)
            {
                context.WriteLine(full ? $"{pair.Key}\t{pair.LastIndex}\t{ValueText.DescribeLine(pair.Value)}" : pair.Key);
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
