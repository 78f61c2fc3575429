namespace LibKv.ZooKeeper;

/// <summary>
/// Bounds one store call by <see cref="StoreOptions.RequestTimeout"/>, however many requests it sends (Put with
/// parents, List, DeleteTree); the caller's token still cancels it. An already-cancelled caller token throws at once.
/// </summary>
internal sealed class CallDeadline : IDisposable
{
    private readonly CancellationTokenSource _cts;
    private readonly CancellationToken _caller;
    private readonly CancellationTokenRegistration _registration;

    public CallDeadline(TimeSpan timeout, TimeProvider time, CancellationToken caller)
    {
        caller.ThrowIfCancellationRequested();
        _caller = caller;
        _cts = new CancellationTokenSource(timeout, time);
        if (caller.CanBeCanceled)
        {
            _registration = caller.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _cts);
        }
    }

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
