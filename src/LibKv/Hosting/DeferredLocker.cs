namespace LibKv.Hosting;

/// <summary>A locker made before its store connected; it makes the real one on the first lock attempt.</summary>
internal sealed class DeferredLocker(DeferredStore owner, string key, LockOptions? options) : ILocker
{
    private static readonly CancellationToken s_ended = new(canceled: true);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ILocker? _inner;

    public string Key { get; } = key;

    public bool IsHeld => Volatile.Read(ref _inner)?.IsHeld ?? false;

    public CancellationToken LostToken => Volatile.Read(ref _inner)?.LostToken ?? s_ended;

    public ulong FencingToken => Volatile.Read(ref _inner)?.FencingToken ?? 0;

    public DateTimeOffset HeldUntil => Volatile.Read(ref _inner)?.HeldUntil ?? DateTimeOffset.MinValue;

    public async ValueTask<CancellationToken> LockAsync(CancellationToken cancellationToken = default) =>
        await (await InnerAsync(cancellationToken).ConfigureAwait(false)).LockAsync(cancellationToken).ConfigureAwait(false);

    public async ValueTask<bool> TryLockAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        await (await InnerAsync(cancellationToken).ConfigureAwait(false)).TryLockAsync(timeout, cancellationToken).ConfigureAwait(false);

    public ValueTask UnlockAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Volatile.Read(ref _inner) is { } inner
            ? inner.UnlockAsync(cancellationToken)
            : throw new KvException(KvErrorCode.LockNotHeld, $"The lock '{Key}' is not held by this locker.", Key);
    }

    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _inner) is { } inner)
        {
            await inner.DisposeAsync().ConfigureAwait(false);
        }

        _gate.Dispose();
    }

    private async ValueTask<ILocker> InnerAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _inner) is { } ready)
        {
            return ready;
        }

        var store = await owner.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _inner ??= store.NewLock(Key, options);
        }
        finally
        {
            _gate.Release();
        }
    }
}
