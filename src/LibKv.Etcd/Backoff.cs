namespace LibKv.Etcd;

/// <summary>Exponential back-off (50 ms doubling to 1 s) between retries while etcd is unreachable.</summary>
internal sealed class Backoff
{
    private static readonly TimeSpan s_first = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan s_max = TimeSpan.FromSeconds(1);
    private TimeSpan _next = s_first;

    /// <summary>Waits the current delay, then doubles it up to the maximum.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        await Task.Delay(_next, cancellationToken).ConfigureAwait(false);
        _next = TimeSpan.FromTicks(Math.Min(_next.Ticks * 2, s_max.Ticks));
    }

    /// <summary>Starts over from the first delay, after a success.</summary>
    public void Reset() => _next = s_first;
}
