namespace LibKv.Core;

/// <summary>
/// The hold bookkeeping every backend's locker shares: not re-entrant, LostToken per hold, FencingToken,
/// TryLock by timeout, unlock on dispose. Backends implement acquire and release and call <see cref="LockHold.Lose"/>.
/// </summary>
public abstract class LockerBase : ILocker
{
    private static readonly CancellationToken s_ended = new(canceled: true);
    private readonly object _gate = new();
    private LockHold? _hold;
    private bool _busy;
    private bool _disposed;

    /// <summary>Creates a locker of a normalized key.</summary>
    protected LockerBase(string key, LockOptions options, TimeProvider time)
    {
        Key = key;
        LockOptions = options;
        Time = time;
    }

    /// <inheritdoc />
    public string Key { get; }

    /// <summary>The options of this locker.</summary>
    protected LockOptions LockOptions { get; }

    /// <summary>The clock used for <see cref="TryLockAsync"/>.</summary>
    protected TimeProvider Time { get; }

    /// <inheritdoc />
    public bool IsHeld => Volatile.Read(ref _hold) is { IsLost: false };

    /// <inheritdoc />
    public CancellationToken LostToken => Volatile.Read(ref _hold) is { } hold ? hold.Token : s_ended;

    /// <inheritdoc />
    public DateTimeOffset HeldUntil => Volatile.Read(ref _hold) is { IsLost: false } hold ? hold.HeldUntil : DateTimeOffset.MinValue;

    /// <inheritdoc />
    public ulong FencingToken => Volatile.Read(ref _hold) is { IsLost: false } hold ? hold.FencingToken : 0;

    /// <inheritdoc />
    public async ValueTask<CancellationToken> LockAsync(CancellationToken cancellationToken = default)
    {
        LockHold hold;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_busy || _hold is { IsLost: false })
            {
                throw new InvalidOperationException($"The lock '{Key}' is already held or being acquired by this locker; locks are not re-entrant.");
            }

            _busy = true;
            _hold?.Dispose();
            _hold = null;
            hold = new LockHold(Time);
        }

        try
        {
            await AcquireCoreAsync(hold, cancellationToken).ConfigureAwait(false);
            if (hold.FencingToken == 0)
            {
                throw new InvalidOperationException("The backend acquired a lock without a fencing token.");
            }

            lock (_gate)
            {
                _hold = hold;
            }

            LockEvent("acquired");
            hold.Token.UnsafeRegister(static s => ((LockerBase)s!).LockEvent("ended"), this);
            return hold.Token;
        }
        catch
        {
            hold.Lose();
            hold.Dispose();
            throw;
        }
        finally
        {
            lock (_gate)
            {
                _busy = false;
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool> TryLockAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), "The timeout must be zero or positive.");
        }

        if (timeout == TimeSpan.Zero)
        {
            // The timeout covers the round trips too, so a zero timeout cannot succeed on any backend.
            ObjectDisposedException.ThrowIf(_disposed, this);
            cancellationToken.ThrowIfCancellationRequested();
            return false;
        }

        using var timeoutCts = timeout == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(timeout, Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutCts.Token);
        try
        {
            await LockAsync(linked.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && timeoutCts.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public async ValueTask UnlockAsync(CancellationToken cancellationToken = default)
    {
        // Cancelled before it starts: nothing is sent and the hold goes on, as with every other call.
        cancellationToken.ThrowIfCancellationRequested();
        LockHold? hold;
        lock (_gate)
        {
            hold = _hold;
            _hold = null;
        }

        if (hold is null || hold.IsLost)
        {
            hold?.Dispose();
            throw new KvException(KvErrorCode.LockNotHeld, $"The lock '{Key}' is not held by this locker.", Key);
        }

        hold.Lose();
        try
        {
            await ReleaseCoreAsync(hold, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            hold.Dispose();
        }
    }

    /// <summary>Unlocks when held, then releases the backend's resources.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        try
        {
            if (IsHeld)
            {
                try
                {
                    await UnlockAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (KvException)
                {
                    // The hold ended meanwhile, or the server is gone: the lease frees the lock.
                }
            }
        }
        finally
        {
            await DisposeCoreAsync().ConfigureAwait(false);
            GC.SuppressFinalize(this);
        }
    }

    private void LockEvent(string name)
    {
        if (KvMetrics.LockEvents.Enabled)
        {
            KvMetrics.LockEvents.Add(1, new KeyValuePair<string, object?>("event", name), new KeyValuePair<string, object?>("type", GetType().Name));
        }
    }

    /// <summary>Waits until the lock is held, sets <see cref="LockHold.FencingToken"/> and starts watching for loss; must leave nothing behind when cancelled.</summary>
    protected abstract ValueTask AcquireCoreAsync(LockHold hold, CancellationToken cancellationToken);

    /// <summary>Releases a hold on the server (deleting the key when <see cref="LockOptions.DeleteOnUnlock"/>).</summary>
    protected abstract ValueTask ReleaseCoreAsync(LockHold hold, CancellationToken cancellationToken);

    /// <summary>Releases what the locker owns beyond a hold; nothing by default.</summary>
    protected virtual ValueTask DisposeCoreAsync() => ValueTask.CompletedTask;
}

/// <summary>
/// One hold of a lock: its fencing token, the token cancelled when it ends, and the local deadline the backend extends
/// with <see cref="Confirm"/>; the hold is lost by itself when that deadline passes.
/// </summary>
public sealed class LockHold : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private ITimer? _timer;
    private long _deadline = long.MaxValue;
    private int _lost;

    internal LockHold(TimeProvider time)
    {
        _time = time;
        Token = _cts.Token;
    }

    /// <summary>Cancelled when the hold ends.</summary>
    public CancellationToken Token { get; }

    /// <summary>Set by the backend when it acquires the lock; greater than 0.</summary>
    public ulong FencingToken { get; set; }

    /// <summary>Backend state of this hold (session id, lease, node path…).</summary>
    public object? State { get; set; }

    /// <summary>True once the hold has ended.</summary>
    public bool IsLost => Volatile.Read(ref _lost) != 0;

    /// <summary>Until when the hold is certain; <see cref="DateTimeOffset.MaxValue"/> when the backend never confirmed a lease.</summary>
    public DateTimeOffset HeldUntil
    {
        get
        {
            var deadline = Interlocked.Read(ref _deadline);
            if (deadline == long.MaxValue)
            {
                return DateTimeOffset.MaxValue;
            }

            return _time.GetUtcNow() + Remaining(deadline);
        }
    }

    /// <summary>
    /// Records that the server confirmed the hold's lease with a request sent at <paramref name="sentTimestamp"/>
    /// (<see cref="TimeProvider.GetTimestamp"/>), so the hold is certain for <paramref name="validFor"/> from then.
    /// </summary>
    public void Confirm(long sentTimestamp, TimeSpan validFor)
    {
        var deadline = sentTimestamp + (long)(validFor.TotalSeconds * _time.TimestampFrequency);
        lock (_gate)
        {
            if (IsLost || (_deadline != long.MaxValue && deadline <= _deadline))
            {
                return;
            }

            Interlocked.Exchange(ref _deadline, deadline);
            var due = Remaining(deadline);
            if (due <= TimeSpan.Zero)
            {
                Lose();
                return;
            }

            if (_timer is null)
            {
                _timer = _time.CreateTimer(static s => ((LockHold)s!).OnDeadline(), this, due, Timeout.InfiniteTimeSpan);
            }
            else
            {
                _timer.Change(due, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>Ends the hold and cancels <see cref="Token"/>; safe to call more than once, from any thread.</summary>
    public void Lose()
    {
        if (Interlocked.Exchange(ref _lost, 1) == 0)
        {
            lock (_gate)
            {
                _timer?.Dispose();
                _timer = null;
            }

            try
            {
                _cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // The token must stay cancellable-observable for callers holding it; only the source is released.
        if (IsLost)
        {
            _cts.Dispose();
        }
    }

    private TimeSpan Remaining(long deadline) =>
        TimeSpan.FromSeconds((deadline - _time.GetTimestamp()) / (double)_time.TimestampFrequency);

    private void OnDeadline()
    {
        var due = Remaining(Interlocked.Read(ref _deadline));
        if (due <= TimeSpan.Zero)
        {
            Lose();
            return;
        }

        lock (_gate)
        {
            _timer?.Change(due, Timeout.InfiniteTimeSpan);
        }
    }
}
