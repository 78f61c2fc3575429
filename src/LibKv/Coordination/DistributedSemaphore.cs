namespace LibKv.Coordination;

/// <summary>
/// At most <c>maxCount</c> live leases per key, on any store: each lease holds one of <c>maxCount</c> slot locks
/// (<c>{key}/slot-N</c>), so a dead holder's slot frees within 2 × ttl + 1 s like any lock.
/// </summary>
/// <code>
/// var downloads = new DistributedSemaphore(store, "limits/downloads", maxCount: 3);
/// await using var lease = await downloads.AcquireAsync(cancellationToken);
/// await DownloadAsync(lease.LostToken);
/// </code>
public sealed class DistributedSemaphore
{
    private readonly IStore _store;
    private readonly LockOptions _lockOptions;

    /// <summary>A semaphore of <paramref name="maxCount"/> slots under <paramref name="key"/>.</summary>
    public DistributedSemaphore(IStore store, string key, int maxCount, TimeSpan? ttl = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxCount, 1024);
        if (ttl is { } t && t <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), "The TTL must be positive.");
        }

        _store = store;
        Key = KeyPath.Normalize(key);
        MaxCount = maxCount;
        _lockOptions = new LockOptions { Ttl = ttl ?? TimeSpan.FromSeconds(10), DeleteOnUnlock = true };
    }

    /// <summary>The semaphore's key.</summary>
    public string Key { get; }

    /// <summary>The most leases live at once.</summary>
    public int MaxCount { get; }

    /// <summary>Waits for a free slot.</summary>
    public async ValueTask<SemaphoreLease> AcquireAsync(CancellationToken cancellationToken = default) =>
        await TryAcquireCoreAsync(Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false)
        ?? throw new InvalidOperationException("An acquire without timeout ended without a lease.");

    /// <summary>Waits up to <paramref name="timeout"/> for a free slot; null when none freed in time.</summary>
    public ValueTask<SemaphoreLease?> TryAcquireAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), "The timeout must be zero or positive.");
        }

        return TryAcquireCoreAsync(timeout, cancellationToken);
    }

    private async ValueTask<SemaphoreLease?> TryAcquireCoreAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (timeout == TimeSpan.Zero)
        {
            return null;
        }

        // Wait on every slot at once; the first hold wins, the others are cancelled (or released when they won too).
        var start = Random.Shared.Next(MaxCount);
        var lockers = Enumerable.Range(0, MaxCount).Select(i => _store.NewLock($"{Key}/slot-{(start + i) % MaxCount}", _lockOptions)).ToArray();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            stop.CancelAfter(timeout);
        }

        var attempts = lockers.Select(l => l.LockAsync(stop.Token).AsTask()).ToList();
        ILocker? winner = null;
        var pending = attempts.ToList();
        Exception? failure = null;
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending).ConfigureAwait(false);
            pending.Remove(done);
            if (done.IsCompletedSuccessfully)
            {
                winner = lockers[attempts.IndexOf(done)];
                await stop.CancelAsync().ConfigureAwait(false);
                break;
            }

            if (done.Exception is { } e && failure is null && !stop.IsCancellationRequested)
            {
                failure = e.InnerException;
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }

        // Let every other attempt end, then release any extra slot that was won meanwhile.
        try
        {
            await Task.WhenAll(attempts).ConfigureAwait(false);
        }
        catch (Exception)
        {
        }

        foreach (var locker in lockers)
        {
            if (!ReferenceEquals(locker, winner))
            {
                await locker.DisposeAsync().ConfigureAwait(false);
            }
        }

        if (winner is not null)
        {
            return new SemaphoreLease(winner);
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }

        return null;
    }
}

/// <summary>One lease of a <see cref="DistributedSemaphore"/>; disposing it frees the slot at once.</summary>
public sealed class SemaphoreLease : IAsyncDisposable
{
    private readonly ILocker _slot;

    internal SemaphoreLease(ILocker slot)
    {
        _slot = slot;
        LostToken = slot.LostToken;
    }

    /// <summary>Cancelled when the lease ends: lost (its session or lease expired) or disposed.</summary>
    public CancellationToken LostToken { get; }

    /// <summary>True while the lease holds its slot.</summary>
    public bool IsHeld => _slot.IsHeld;

    /// <summary>The fencing token of the slot's hold.</summary>
    public ulong FencingToken => _slot.FencingToken;

    /// <summary>Frees the slot.</summary>
    public ValueTask DisposeAsync() => _slot.DisposeAsync();
}
