using System.CommandLine;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv rm KEY</c>.</summary>
internal static class RemoveCommand
{
    public static Command Create(CliContext context)
    {
        var key = new Argument<string>("key") { Description = "The key to delete." };
        var command = new Command("rm", "Delete a key (exit 2 when it does not exist); keys under it are untouched.") { key };
        context.SetStoreAction(command, async (parseResult, store, cancellationToken) =>
        {
            await store.DeleteAsync(parseResult.GetValue(key)!, cancellationToken).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
