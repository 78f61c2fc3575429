namespace LibKv.Etcd;

/// <summary>
/// Finds a stream whose member went silent (paused, partitioned): after a third of RequestTimeout without a message it
/// probes (a progress request, a keep-alive), and when nothing arrives within the rest of RequestTimeout it gives up.
/// </summary>
internal sealed class StreamLiveness
{
    private readonly long _quietMs;
    private readonly long _answerMs;
    private long _lastHeard = Environment.TickCount64;
    private long _probeSent;

    public StreamLiveness(TimeSpan requestTimeout)
    {
        var total = Math.Max(600, (long)requestTimeout.TotalMilliseconds);
        _quietMs = total / 3;
        _answerMs = total - _quietMs;
    }

    /// <summary>How long a probe may go unanswered before the stream counts as dead.</summary>
    public TimeSpan AnswerTimeout => TimeSpan.FromMilliseconds(_answerMs);

    /// <summary>Notes that a message arrived on the stream.</summary>
    public void Heard()
    {
        Volatile.Write(ref _lastHeard, Environment.TickCount64);
        Volatile.Write(ref _probeSent, 0);
    }

    /// <summary>
    /// Runs until cancelled or the stream is found dead: sends a probe when the stream went quiet and calls
    /// <paramref name="dead"/> once when the probe is not answered in time.
    /// </summary>
    public async Task MonitorAsync(Func<bool> probe, Action dead, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Clamp(_quietMs / 4, 50, 250)));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var now = Environment.TickCount64;
                var sent = Volatile.Read(ref _probeSent);
                if (sent != 0)
                {
                    if (now - sent >= _answerMs)
                    {
                        dead();
                        return;
                    }
                }
                else if (now - Volatile.Read(ref _lastHeard) >= _quietMs)
                {
                    Volatile.Write(ref _probeSent, now);
                    if (!probe())
                    {
                        return;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
