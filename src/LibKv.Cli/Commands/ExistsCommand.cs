using System.CommandLine;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv exists KEY</c>: prints true or false; exit 0 or 2, so it works in shell conditions.</summary>
internal static class ExistsCommand
{
    public static Command Create(CliContext context)
    {
        var key = new Argument<string>("key") { Description = "The key to test." };
        var command = new Command("exists", "Print true or false; exit 0 when the key exists, 2 when not.") { key };
        context.SetStoreAction(command, async (parseResult, store, cancellationToken) =>
        {
            var exists = await store.ExistsAsync(parseResult.GetValue(key)!, cancellationToken: cancellationToken).ConfigureAwait(false);
            context.WriteLine(exists ? "true" : "false");
            return exists ? ExitCodes.Ok : ExitCodes.NotFound;
        });
        return command;
    }
}
