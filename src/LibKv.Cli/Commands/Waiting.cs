namespace LibKv.Cli.Commands;

/// <summary>Waits for Ctrl-C, an optional limit or a lost lease, whichever comes first; none of them is an error.</summary>
internal static class Waiting
{
    public static async Task UntilAsync(TimeSpan? limit, CancellationToken cancellationToken, CancellationToken lost = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lost);
        try
        {
            await Task.Delay(limit ?? Timeout.InfiniteTimeSpan, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
        }
    }
}
