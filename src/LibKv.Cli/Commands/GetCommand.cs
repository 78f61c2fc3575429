using System.CommandLine;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv get KEY</c>: prints the value.</summary>
internal static class GetCommand
{
    public static Command Create(CliContext context)
    {
        var key = new Argument<string>("key") { Description = "The key to read." };
        var showIndex = new Option<bool>("--show-index", "-i") { Description = "Print the LastIndex and a tab before the value." };
        var output = new Option<string?>("--output", "-o") { Description = "Write the raw value to this file instead of printing it." };
        var command = new Command("get", "Print the value of a key (exit 2 when it does not exist).") { key, showIndex, output };
        context.SetStoreAction(command, async (parseResult, store, cancellationToken) =>
        {
            var pair = await store.GetAsync(parseResult.GetValue(key)!, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (parseResult.GetValue(output) is { } path)
            {
                await File.WriteAllBytesAsync(path, pair.Value, cancellationToken).ConfigureAwait(false);
                if (parseResult.GetValue(showIndex))
                {
                    context.WriteLine(pair.LastIndex.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }

                return ExitCodes.Ok;
            }

            var text = ValueText.Describe(pair.Value);
            context.WriteLine(parseResult.GetValue(showIndex) ? $"{pair.LastIndex}\t{text}" : text);
            return ExitCodes.Ok;
        });
        return command;
    }
}
