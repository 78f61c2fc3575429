namespace LibKv;

/// <summary>
/// A distributed lock on one key; not re-entrant. Run guarded work under <see cref="LostToken"/>.
/// </summary>
/// <code>
/// await using var locker = store.NewLock("locks/job");
/// var lost = await locker.LockAsync(cancellationToken);
/// await DoGuardedWorkAsync(locker.FencingToken, lost);
/// await locker.UnlockAsync();
/// </code>
public interface ILocker : IAsyncDisposable
{
    /// <summary>The normalized lock key.</summary>
    string Key { get; }

    /// <summary>True while this locker holds the lock.</summary>
    bool IsHeld { get; }

    /// <summary>Cancelled when the current hold ends (lost, unlocked or disposed); already cancelled when not held.</summary>
    CancellationToken LostToken { get; }

    /// <summary>Greater than 0 while held and strictly increasing with each new hold of the key; 0 when not held.</summary>
    ulong FencingToken { get; }

    /// <summary>
    /// The time (on the store's TimeProvider) until which the current hold is certain, counted from the last renewal the
    /// server confirmed; <see cref="DateTimeOffset.MinValue"/> when not held, <see cref="DateTimeOffset.MaxValue"/> where no lease can end it (memory).
    /// </summary>
    DateTimeOffset HeldUntil { get; }

    /// <summary>Waits until the lock is held and returns <see cref="LostToken"/>.</summary>
    ValueTask<CancellationToken> LockAsync(CancellationToken cancellationToken = default);

    /// <summary>Tries to take the lock within <paramref name="timeout"/>; false when it could not.</summary>
    ValueTask<bool> TryLockAsync(TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>Releases the lock; <see cref="KvErrorCode.LockNotHeld"/> when not held.</summary>
    ValueTask UnlockAsync(CancellationToken cancellationToken = default);
}
