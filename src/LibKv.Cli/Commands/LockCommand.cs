using System.CommandLine;
using System.Text;

namespace LibKv.Cli.Commands;

/// <summary><c>libkv lock KEY</c>: takes the lock, prints the fencing token, holds it until Ctrl-C (or <c>--hold</c>), unlocks.</summary>
internal static class LockCommand
{
    public static Command Create(CliContext context)
    {
        var key = new Argument<string>("key") { Description = "The lock key." };
        var hold = Durations.NullableOption("--hold", "Unlock after this long instead of waiting for Ctrl-C, e.g. 5s.");
        var wait = Durations.NullableOption("--wait", "Give up (exit 4) when the lock is not free within this long; default: wait forever.");
        var ttl = Durations.Option("--ttl", "The lease of the hold: a holder that stops renewing loses the lock within about twice this.", TimeSpan.FromSeconds(20));
        var value = new Option<string?>("--value") { Description = "The value the key holds while locked." };
        var command = new Command("lock", "Take a lock, print its fencing token, hold it until Ctrl-C or --hold, then unlock.") { key, hold, wait, ttl, value };
        context.SetStoreAction(command, async (parseResult, store, cancellationToken) =>
        {
            var options = new LockOptions
            {
                Ttl = parseResult.GetValue(ttl),
                Value = parseResult.GetValue(value) is { } v ? Encoding.UTF8.GetBytes(v) : null,
            };
            var locker = store.NewLock(parseResult.GetValue(key)!, options);
            await using (locker.ConfigureAwait(false))
            {
                CancellationToken lost;
                if (parseResult.GetValue(wait) is { } timeout)
                {
                    if (!await locker.TryLockAsync(timeout, cancellationToken).ConfigureAwait(false))
                    {
                        throw new KvException(KvErrorCode.KeyExists, $"Lock '{locker.Key}' is held by someone else; not acquired within {Durations.Format(timeout)}.", locker.Key);
                    }

                    lost = locker.LostToken;
                }
                else
                {
                    lost = await locker.LockAsync(cancellationToken).ConfigureAwait(false);
                }

                var token = locker.FencingToken;
                var limit = parseResult.GetValue(hold);
                context.WriteLine($"locked '{locker.Key}', fencing token {token}; holding {(limit is { } h ? "for " + Durations.Format(h) : "until Ctrl-C")}");
                await Waiting.UntilAsync(limit, cancellationToken, lost).ConfigureAwait(false);
                if (!locker.IsHeld)
                {
                    throw new KvException(KvErrorCode.LockNotHeld, $"Lock '{locker.Key}' was lost while held (fencing token {token}).", locker.Key);
                }

                await locker.UnlockAsync(CancellationToken.None).ConfigureAwait(false);
                context.WriteLine($"unlocked '{locker.Key}'");
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
