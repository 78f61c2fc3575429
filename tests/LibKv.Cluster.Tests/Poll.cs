namespace LibKv.Cluster.Tests;

/// <summary>Polls a condition until it holds or a generous deadline passes.</summary>
internal static class Poll
{
    /// <summary>True as soon as <paramref name="condition"/> holds; false when <paramref name="deadline"/> passed first.</summary>
    public static async Task<bool> UntilAsync(Func<Task<bool>> condition, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + deadline;
        while (true)
        {
            if (await condition())
            {
                return true;
            }

            if (DateTime.UtcNow > until)
            {
                return false;
            }

            await Task.Delay(100, cancellationToken);
        }
    }
}
