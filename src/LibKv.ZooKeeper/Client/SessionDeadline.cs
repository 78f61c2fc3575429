namespace LibKv.ZooKeeper.Client;

/// <summary>
/// A session's local, monotonic deadline: its timeout counted from the send time of the last request or ping the
/// server answered. The server cannot expire the session before it; the callback runs once it has gone by
/// without a newer answer.
/// </summary>
internal sealed class SessionDeadline : IDisposable
{
    private readonly TimeProvider _time;
    private readonly Func<TimeSpan> _timeout;
    private readonly Action _passed;
    private readonly ITimer _timer;
    private long _confirmedSent;

    /// <summary>Creates an unarmed deadline; <paramref name="timeout"/> gives the negotiated session timeout.</summary>
    public SessionDeadline(TimeProvider time, Func<TimeSpan> timeout, Action passed)
    {
        _time = time;
        _timeout = timeout;
        _passed = passed;
        _confirmedSent = time.GetTimestamp();
        _timer = time.CreateTimer(static d => ((SessionDeadline)d!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The send timestamp of the last answered request or ping.</summary>
    public long ConfirmedSent => Interlocked.Read(ref _confirmedSent);

    /// <summary>True once the timeout has passed since <see cref="ConfirmedSent"/>.</summary>
    public bool HasPassed => _time.GetElapsedTime(ConfirmedSent) >= _timeout();

    /// <summary>Starts the deadline of a new session from the send time of its handshake.</summary>
    public void Restart(long sentTimestamp) => Interlocked.Exchange(ref _confirmedSent, sentTimestamp);

    /// <summary>The server answered something sent at <paramref name="sentTimestamp"/>: the deadline moves on (never back).</summary>
    public void Confirm(long sentTimestamp)
    {
        var current = Interlocked.Read(ref _confirmedSent);
        while (sentTimestamp > current)
        {
            var seen = Interlocked.CompareExchange(ref _confirmedSent, sentTimestamp, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>(Re)arms the timer for when the deadline passes as things stand.</summary>
    public void Arm()
    {
        var left = _timeout() - _time.GetElapsedTime(ConfirmedSent);
        try
        {
            _timer.Change(left > TimeSpan.Zero ? left + TimeSpan.FromMilliseconds(1) : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose() => _timer.Dispose();

    private void OnTimer()
    {
        if (HasPassed)
        {
            _passed();
        }
        else
        {
            // Answers came meanwhile: wait for the deadline they set.
            Arm();
        }
    }
}
