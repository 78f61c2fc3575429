using System.CommandLine;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv rmtree DIR</c>.</summary>
internal static class RemoveTreeCommand
{
    public static Command Create(CliContext context)
    {
        var directory = new Argument<string>("directory") { Description = "The directory to delete with everything under it." };
        var command = new Command("rmtree", "Delete a directory and every key under it (exit 2 when nothing was there).") { directory };
        context.SetStoreAction(command, async (parseResult, store, cancellationToken) =>
        {
            await store.DeleteTreeAsync(parseResult.GetValue(directory)!, cancellationToken).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
