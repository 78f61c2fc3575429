using System.CommandLine;
using System.Globalization;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv cas KEY NEW --index N</c>: compare-and-swap on LastIndex; index 0 creates.</summary>
internal static class CasCommand
{
    public static Command Create(CliContext context)
    {
        var key = new Argument<string>("key") { Description = "The key to write." };
        var value = new Argument<string?>("value") { Description = "The new value as text (or use --file).", Arity = ArgumentArity.ZeroOrOne };
        var index = new Option<ulong>("--index") { Description = "The LastIndex the key must still have; 0 or omitted: create, fail if it exists." };
        var file = new Option<string?>("--file", "-f") { Description = "Read the value from this file ('-' for standard input)." };
        var ttl = Durations.NullableOption("--ttl", "Expire the key this long after the write.");
        var command = new Command("cas", "Atomic write: prints the new LastIndex; exit 4 when the key changed or already exists, 2 when it is gone.")
        {
            key, value, index, file, ttl,
        };
        context.SetStoreAction(command, async (parseResult, store, cancellationToken) =>
        {
            var k = parseResult.GetValue(key)!;
            var bytes = await ValueText.ReadAsync(parseResult.GetValue(value), parseResult.GetValue(file), cancellationToken).ConfigureAwait(false);
            var expected = parseResult.GetValue(index);
            var previous = expected == 0 ? null : new KVPair(k, Array.Empty<byte>(), expected);
            var written = await store.AtomicPutAsync(k, bytes, previous, new WriteOptions { Ttl = parseResult.GetValue(ttl) }, cancellationToken).ConfigureAwait(false);
            context.WriteLine(written.LastIndex.ToString(CultureInfo.InvariantCulture));
            return ExitCodes.Ok;
        });
        return command;
    }
}
