namespace LibKv.Cli.Tests;

public sealed class ErrorTests
{
    [Fact]
    public async Task Unknown_backend_prints_one_error_line_and_fails()
    {
        var cli = await Cli.RunAsync("get", "a", "--backend", "no-such-backend");

        Assert.NotEqual(0, cli.ExitCode);
        var line = cli.SingleErrorLine();
        Assert.Contains("unknown backend 'no-such-backend'", line, StringComparison.Ordinal);
        Assert.EndsWith("(UnknownBackend)", line, StringComparison.Ordinal);
        Assert.Equal("", cli.Out.Text);
    }

    [Fact]
    public async Task Missing_key_exits_2_with_the_code_named()
    {
        var cli = await Cli.RunAsync("get", "a");

        Assert.Equal(2, cli.ExitCode);
        Assert.Equal("error: key 'a' not found (KeyNotFound)", cli.SingleErrorLine());
    }

    [Theory]
    [InlineData("get", "a//b")]
    [InlineData("put", "a")]
    [InlineData("put", "a", "v", "--file", "x")]
    [InlineData("frobnicate")]
    [InlineData("put", "a", "v", "--ttl", "soon")]
    [InlineData("put", "a", "v", "--keep-alive")]
    [InlineData("rmtree", "/")]
    [InlineData("bench", "--op", "scan")]
    public async Task Usage_errors_exit_64_with_one_line(params string[] args)
    {
        var cli = await Cli.RunAsync(args);

        Assert.Equal(64, cli.ExitCode);
        cli.SingleErrorLine();
    }

    [Fact]
    public async Task Cancellation_of_a_plain_command_is_reported_as_cancelled()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var cli = new Cli();

        var code = await cli.StartAsync(cancelled.Token, "get", "a");

        Assert.Equal(130, code);
        Assert.Equal("error: cancelled", cli.SingleErrorLine());
    }
}
