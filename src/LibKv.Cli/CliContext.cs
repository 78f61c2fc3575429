using System.CommandLine;
using System.Text.RegularExpressions;

namespace LibKv.Cli;

/// <summary>What every command shares: the output writers, the connection options and the error reporting.</summary>
internal sealed partial class CliContext(TextWriter output, TextWriter error)
{
    private readonly object _writeGate = new();

    public TextWriter Out { get; } = output;

    public TextWriter Err { get; } = error;

    public ConnectionOptions Connection { get; } = new();

    /// <summary>Writes one line to standard output; safe from any thread.</summary>
    public void WriteLine(string line)
    {
        lock (_writeGate)
        {
            Out.WriteLine(line);
            Out.Flush();
        }
    }

    /// <summary>Sets an action that runs <paramref name="body"/> on a store built from the connection options, disposed afterwards.</summary>
    public void SetStoreAction(Command command, Func<ParseResult, IStore, CancellationToken, Task<int>> body) =>
        SetAction(command, async (parseResult, cancellationToken) =>
        {
            var store = await Connection.ConnectAsync(parseResult, cancellationToken).ConfigureAwait(false);
            await using (store.ConfigureAwait(false))
            {
                return await body(parseResult, store, cancellationToken).ConfigureAwait(false);
            }
        });

    /// <summary>Sets an action whose every exception becomes one error line and an exit code.</summary>
    public void SetAction(Command command, Func<ParseResult, CancellationToken, Task<int>> body) =>
        command.SetAction(async (ParseResult parseResult, CancellationToken cancellationToken) =>
        {
            try
            {
                return await body(parseResult, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                return Fail(e, cancellationToken);
            }
        });

    public int UsageError(string message)
    {
        Error(Sentence(message) + " (see libkv --help)");
        return ExitCodes.Usage;
    }

    /// <summary>Reports <paramref name="exception"/> as one line on standard error and returns its exit code; never a stack trace.</summary>
    public int Fail(Exception exception, CancellationToken cancellationToken)
    {
        switch (exception)
        {
            case KvException kv:
                Error($"{Sentence(kv.Message)} ({kv.Code})");
                return ExitCodes.Of(kv.Code);
            case UsageException usage:
                Error(Sentence(usage.Message));
                return ExitCodes.Usage;
            case ArgumentException argument:
                Error(Sentence(ParameterSuffix().Replace(argument.Message, string.Empty)));
                return ExitCodes.Usage;
            case OperationCanceledException when cancellationToken.IsCancellationRequested:
                Error("cancelled");
                return ExitCodes.Cancelled;
            case TimeoutException timeout:
                Error(Sentence(timeout.Message));
                return ExitCodes.Unavailable;
            case OperationCanceledException:
                Error("timed out");
                return ExitCodes.Unavailable;
            case IOException or UnauthorizedAccessException:
                Error(Sentence(exception.Message));
                return ExitCodes.Failure;
            default:
                Error($"{Sentence(exception.Message)} ({exception.GetType().Name})");
                return ExitCodes.Failure;
        }
    }

    private void Error(string message)
    {
        lock (_writeGate)
        {
            Err.WriteLine("error: " + OneLine(message));
            Err.Flush();
        }
    }

    /// <summary>"Key 'a' not found." becomes "key 'a' not found": lower-case start, no final period.</summary>
    private static string Sentence(string message)
    {
        var text = OneLine(message).Trim().TrimEnd('.');
        if (text.Length > 1 && char.IsUpper(text[0]) && char.IsLower(text[1]))
        {
            text = char.ToLowerInvariant(text[0]) + text[1..];
        }

        return text.Length == 0 ? "failed" : text;
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    [GeneratedRegex(@"\s*\(Parameter '[^']*'\)\s*$")]
    private static partial Regex ParameterSuffix();
}
