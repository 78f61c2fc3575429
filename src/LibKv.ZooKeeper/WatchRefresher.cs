using LibKv.ZooKeeper.Client;

namespace LibKv.ZooKeeper;

/// <summary>
/// Runs one watch's re-read at a time: a trigger during a read marks it dirty so one more read follows, which
/// coalesces bursts of events and keeps emitted states in order. Transient failures retry until the watch ends.
/// </summary>
internal sealed class WatchRefresher
{
    private readonly ZooKeeperStore _store;
    private readonly string _path;
    private readonly Func<CancellationToken, Task> _refresh;
    private readonly Action<Exception> _fail;
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenRegistration _closing;
    private int _state;

    public WatchRefresher(ZooKeeperStore store, string path, Func<CancellationToken, Task> refresh, Action<Exception> fail)
    {
        _store = store;
        _path = path;
        _refresh = refresh;
        _fail = fail;
        _closing = store.ClosingToken.UnsafeRegister(static r => ((WatchRefresher)r!).Stop(), this);
    }

    /// <summary>Asks for a fresh read.</summary>
    public void Trigger()
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (state == 2 || (state == 1 && Interlocked.CompareExchange(ref _state, 2, 1) == 1))
            {
                return;
            }

            if (state == 0 && Interlocked.CompareExchange(ref _state, 1, 0) == 0)
            {
                _ = Task.Run(RunAsync);
                return;
            }
        }
    }

    /// <summary>Stops reading; a read in flight is cancelled.</summary>
    public void Stop()
    {
        // Unregistered from the store's closing token, so subscribe/unsubscribe cycles leave nothing behind.
        _closing.Dispose();
        try
        {
            _stop.Cancel();
        }
        catch (AggregateException)
        {
        }
    }

    private async Task RunAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            Volatile.Write(ref _state, 1);
            try
            {
                await _refresh(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (KvException e) when (e.Code is KvErrorCode.Unauthorized or KvErrorCode.NotSupported)
            {
                Stop();
                _fail(e);
                return;
            }
            catch (Exception e)
            {
                Log.WatchRetry(_store.Logger, _path, e.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                Volatile.Write(ref _state, 2);
            }

            if (Interlocked.CompareExchange(ref _state, 0, 1) == 1)
            {
                return;
            }
        }
    }
}
