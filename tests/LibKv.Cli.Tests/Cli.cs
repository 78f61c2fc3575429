namespace LibKv.Cli.Tests;

/// <summary>Runs the tool in process and keeps its output.</summary>
internal sealed class Cli
{
    public LineWriter Out { get; } = new();

    public LineWriter Err { get; } = new();

    public int ExitCode { get; private set; } = -1;

    public static async Task<Cli> RunAsync(params string[] args)
    {
        var cli = new Cli();
        cli.ExitCode = await cli.StartAsync(CancellationToken.None, args);
        return cli;
    }

    public Task<int> StartAsync(CancellationToken cancellationToken, params string[] args) =>
        Program.RunAsync(args, Out, Err, cancellationToken);

    /// <summary>The one error line, asserted to be a single line without a stack trace.</summary>
    public string SingleErrorLine()
    {
        var lines = Err.Lines;
        Assert.True(lines.Length == 1, "expected exactly one error line, got:\n" + Err.Text);
        Assert.DoesNotContain("   at ", Err.Text, StringComparison.Ordinal);
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        return lines[0];
    }
}
