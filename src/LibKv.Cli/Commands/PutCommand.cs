using System.CommandLine;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv put KEY VALUE</c> or <c>libkv put KEY --file PATH</c>, optionally with a TTL kept alive until Ctrl-C.</summary>
internal static class PutCommand
{
    public static Command Create(CliContext context)
    {
        var key = new Argument<string>("key") { Description = "The key to write." };
        var value = new Argument<string?>("value") { Description = "The value as text (or use --file).", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<string?>("--file", "-f") { Description = "Read the value from this file ('-' for standard input)." };
        var ttl = Durations.NullableOption("--ttl", "Expire the key this long after the write, e.g. 10s.");
        var keepAlive = new Option<bool>("--keep-alive") { Description = "With --ttl: keep the key alive until Ctrl-C (or --hold), then let it expire." };
        var hold = Durations.NullableOption("--hold", "With --keep-alive: stop after this long instead of waiting for Ctrl-C.");
        var command = new Command("put", "Create or overwrite a key.") { key, value, file, ttl, keepAlive, hold };
        context.SetStoreAction(command, async (parseResult, store, cancellationToken) =>
        {
            var k = parseResult.GetValue(key)!;
            var bytes = await ValueText.ReadAsync(parseResult.GetValue(value), parseResult.GetValue(file), cancellationToken).ConfigureAwait(false);
            var keep = parseResult.GetValue(keepAlive);
            var t = parseResult.GetValue(ttl);
            if (keep && t is null)
            {
                throw new UsageException("--keep-alive needs --ttl");
            }

            await store.PutAsync(k, bytes, new WriteOptions { Ttl = t, KeepAlive = keep }, cancellationToken).ConfigureAwait(false);
            if (!keep)
            {
                return ExitCodes.Ok;
            }

            var limit = parseResult.GetValue(hold);
            context.WriteLine($"keeping '{k}' alive (TTL {Durations.Format(t!.Value)}) {(limit is { } h ? "for " + Durations.Format(h) : "until Ctrl-C")}");
            await Waiting.UntilAsync(limit, cancellationToken).ConfigureAwait(false);
            context.WriteLine($"released '{k}': it expires within {Durations.Format(t.Value)}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
