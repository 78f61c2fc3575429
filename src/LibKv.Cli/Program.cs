using System.CommandLine;

namespace LibKv.Cli;

/// <summary>The entry point of the <c>libkv</c> tool.</summary>
public static class Program
{
    /// <summary>Runs the tool on the console; Ctrl-C cancels the running command.</summary>
    public static async Task<int> Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // The first Ctrl-C ends the command gracefully (watch, lock and keep-alive stop cleanly); a second one kills.
            if (!cancel.IsCancellationRequested)
            {
                e.Cancel = true;
                cancel.Cancel();
            }
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return await RunAsync(args, Console.Out, Console.Error, cancel.Token).ConfigureAwait(false);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Runs one command line in process, writing to the given writers; returns the exit code (see <c>docs/cli.md</c>).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var context = new CliContext(output, error);
        try
        {
            var root = CliApp.Build(context);
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                // An unknown word also yields "required command was not provided"; the unrecognized token is the useful part.
                var errors = parsed.Errors.Where(e => e.Message.Contains("nrecognized", StringComparison.Ordinal)).DefaultIfEmpty(parsed.Errors[0]);
                return context.UsageError(string.Join(" ", errors.Select(e => e.Message.TrimEnd('.') + ".")));
            }

            var configuration = new InvocationConfiguration
            {
                Output = output,
                Error = error,
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null,
            };
            return await parsed.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            return context.Fail(e, cancellationToken);
        }
    }
}
