namespace LibKv.ZooKeeper;

/// <summary>
/// Bounds one store call by <see cref="StoreOptions.RequestTimeout"/>, however many requests it sends (Put with
/// parents, List, DeleteTree); the caller's token still cancels it. An already-cancelled caller token throws at once.
/// </summary>
internal sealed class CallDeadline : IDisposable
{
    /// <summary>The longest timeout timers accept; a longer RequestTimeout is clamped to it (about 24 days).</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMilliseconds(int.MaxValue);

    private readonly CancellationTokenSource _cts;
    private readonly CancellationToken _caller;
    private readonly CancellationTokenRegistration _registration;

    public CallDeadline(TimeSpan timeout, TimeProvider time, CancellationToken caller)
    {
        caller.ThrowIfCancellationRequested();
        _caller = caller;
        _cts = new CancellationTokenSource(Clamp(timeout), time);
        if (caller.CanBeCanceled)
        {
            _registration = caller.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _cts);
        }
    }

    /// <summary>Clamps a timeout to what timers accept.</summary>
    public static TimeSpan Clamp(TimeSpan timeout) => timeout > MaxTimeout ? MaxTimeout : timeout;

    /// <summary>Cancelled by the caller's token or when the call's time is up.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>True when the call's time ran out (not the caller's cancellation).</summary>
    public bool TimedOut => _cts.IsCancellationRequested && !_caller.IsCancellationRequested;

    public void Dispose()
    {
        _registration.Dispose();
        _cts.Dispose();
    }
}
