using System.Text;

namespace LibKv.Cli.Tests;

public sealed class CommandTests
{
    [Fact]
    public async Task Put_then_get_in_separate_invocations_round_trips_through_a_shared_space()
    {
        await using var space = await SharedSpace.OpenAsync();

        var put = await Cli.RunAsync(space.Args("put", "greeting/en", "hello world"));
        var get = await Cli.RunAsync(space.Args("get", "/greeting/en/"));

        Assert.Equal(0, put.ExitCode);
        Assert.Equal("", put.Out.Text);
        Assert.Equal(0, get.ExitCode);
        Assert.Equal(["hello world"], get.Out.Lines);
        Assert.Equal("", get.Err.Text);
        var stored = await space.Holder.GetAsync("greeting/en");
        Assert.Equal("hello world", Encoding.UTF8.GetString(stored.Value));
    }

    [Fact]
    public async Task Put_reads_the_value_from_a_file_and_get_writes_it_to_one()
    {
        await using var space = await SharedSpace.OpenAsync();
        var input = Path.GetTempFileName();
        var output = Path.GetTempFileName();
        try
        {
            byte[] bytes = [0, 1, 2, 255, 10];
            await File.WriteAllBytesAsync(input, bytes);

            var put = await Cli.RunAsync(space.Args("put", "blob", "--file", input));
            var get = await Cli.RunAsync(space.Args("get", "blob", "--output", output));

            Assert.Equal(0, put.ExitCode);
            Assert.Equal(0, get.ExitCode);
            Assert.Equal(bytes, await File.ReadAllBytesAsync(output));
        }
        finally
        {
            File.Delete(input);
            File.Delete(output);
        }
    }

    [Fact]
    public async Task Exists_rm_ls_and_rmtree_follow_the_store()
    {
        await using var space = await SharedSpace.OpenAsync();
        await space.Holder.PutAsync("app/b", "2"u8.ToArray());
        await space.Holder.PutAsync("app/a/x", "1"u8.ToArray());
        await space.Holder.PutAsync("apple", "3"u8.ToArray());

        var ls = await Cli.RunAsync(space.Args("ls", "app"));
        Assert.Equal(0, ls.ExitCode);
        Assert.Equal(["app/a/x", "app/b"], ls.Out.Lines);

        var exists = await Cli.RunAsync(space.Args("exists", "app/b"));
        Assert.Equal((0, "true"), (exists.ExitCode, exists.Out.Text.Trim()));

        var rm = await Cli.RunAsync(space.Args("rm", "app/b"));
        Assert.Equal(0, rm.ExitCode);
        var gone = await Cli.RunAsync(space.Args("exists", "app/b"));
        Assert.Equal((2, "false"), (gone.ExitCode, gone.Out.Text.Trim()));

        var rmtree = await Cli.RunAsync(space.Args("rmtree", "app"));
        Assert.Equal(0, rmtree.ExitCode);
        Assert.False(await space.Holder.ExistsAsync("app/a/x"));
        Assert.True(await space.Holder.ExistsAsync("apple"));
    }

    [Fact]
    public async Task Cas_creates_with_index_zero_and_then_needs_the_current_index()
    {
        await using var space = await SharedSpace.OpenAsync();

        var create = await Cli.RunAsync(space.Args("cas", "counter", "1"));
        Assert.Equal(0, create.ExitCode);
        var created = ulong.Parse(create.Out.Text.Trim(), System.Globalization.CultureInfo.InvariantCulture);

        var again = await Cli.RunAsync(space.Args("cas", "counter", "1", "--index", "0"));
        Assert.Equal(4, again.ExitCode);
        Assert.Contains("(KeyExists)", again.SingleErrorLine(), StringComparison.Ordinal);

        var next = await Cli.RunAsync(space.Args("cas", "counter", "2", "--index", created.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(0, next.ExitCode);
        var stale = await Cli.RunAsync(space.Args("cas", "counter", "3", "--index", created.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(4, stale.ExitCode);
        Assert.Contains("(KeyModified)", stale.SingleErrorLine(), StringComparison.Ordinal);
        Assert.Equal("2", Encoding.UTF8.GetString((await space.Holder.GetAsync("counter")).Value));
    }

    [Fact]
    public async Task Watch_prints_the_current_state_then_each_change()
    {
        await using var space = await SharedSpace.OpenAsync();
        var cli = new Cli();
        var run = cli.StartAsync(CancellationToken.None, space.Args("watch", "cfg", "--count", "3"));

        await cli.Out.WaitForLineAsync(l => l == "cfg: (absent)");
        await space.Holder.PutAsync("cfg", "v1"u8.ToArray());
        await cli.Out.WaitForLineAsync(l => l.EndsWith(": v1", StringComparison.Ordinal));
        await space.Holder.DeleteAsync("cfg");

        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(3, cli.Out.Lines.Length);
        Assert.Matches(@"^cfg@\d+: v1$", cli.Out.Lines[1]);
        Assert.Equal("cfg: (absent)", cli.Out.Lines[2]);
    }

    [Fact]
    public async Task Watch_tree_ends_cleanly_on_cancellation()
    {
        await using var space = await SharedSpace.OpenAsync();
        using var cancel = new CancellationTokenSource();
        var cli = new Cli();
        var run = cli.StartAsync(cancel.Token, space.Args("watch-tree", "svc"));

        await cli.Out.WaitForLineAsync(l => l == "snapshot 1: 0 keys");
        await space.Holder.PutAsync("svc/a", "x"u8.ToArray());
        await cli.Out.WaitForLineAsync(l => l.StartsWith("  svc/a@", StringComparison.Ordinal));
        await cancel.CancelAsync();

        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal("", cli.Err.Text);
    }

    [Fact]
    public async Task Lock_prints_a_fencing_token_and_unlocks_after_hold()
    {
        await using var space = await SharedSpace.OpenAsync();

        var first = await Cli.RunAsync(space.Args("lock", "jobs/report", "--hold", "50ms"));
        var second = await Cli.RunAsync(space.Args("lock", "jobs/report", "--hold", "50ms", "--wait", "5s"));

        Assert.Equal(0, first.ExitCode);
        Assert.Equal(0, second.ExitCode);
        var tokens = new[] { first, second }.Select(r => ulong.Parse(
            System.Text.RegularExpressions.Regex.Match(r.Out.Text, @"fencing token (\d+)").Groups[1].Value,
            System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(tokens[0] > 0 && tokens[1] > tokens[0], $"tokens {tokens[0]}, {tokens[1]}");
        Assert.Contains("unlocked 'jobs/report'", second.Out.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lock_with_wait_gives_up_while_someone_else_holds_it()
    {
        await using var space = await SharedSpace.OpenAsync();
        await using var locker = space.Holder.NewLock("busy");
        await locker.LockAsync();

        var cli = await Cli.RunAsync(space.Args("lock", "busy", "--wait", "100ms"));

        Assert.Equal(4, cli.ExitCode);
        Assert.Contains("lock 'busy' is held by someone else", cli.SingleErrorLine(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Put_with_keep_alive_holds_the_key_until_cancelled()
    {
        await using var space = await SharedSpace.OpenAsync();
        using var cancel = new CancellationTokenSource();
        var cli = new Cli();
        var run = cli.StartAsync(cancel.Token, space.Args("put", "services/api/1", "10.0.0.1", "--ttl", "1s", "--keep-alive"));

        await cli.Out.WaitForLineAsync(l => l.StartsWith("keeping 'services/api/1' alive", StringComparison.Ordinal));
        Assert.True(await space.Holder.ExistsAsync("services/api/1"));
        await cancel.CancelAsync();

        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("released 'services/api/1'", cli.Out.Text, StringComparison.Ordinal);
    }
}
