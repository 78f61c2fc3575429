namespace LibKv.Core;

/// <summary>
/// Delivers states to one observer in order, off the caller's thread, coalescing states posted faster than the
/// observer consumes them; the last state posted is always delivered.
/// </summary>
public sealed class LatestValueDispatcher<T>
{
    private readonly IObserver<T> _observer;
    private readonly object _gate = new();
    private T _pending = default!;
    private bool _hasPending;
    private bool _running;
    private bool _stopped;

    /// <summary>Creates a dispatcher to <paramref name="observer"/>.</summary>
    public LatestValueDispatcher(IObserver<T> observer) => _observer = observer;

    /// <summary>Queues <paramref name="value"/>, replacing a state not yet delivered.</summary>
    public void Post(T value)
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            _pending = value;
            _hasPending = true;
            if (_running)
            {
                return;
            }

            _running = true;
        }

        ThreadPool.UnsafeQueueUserWorkItem(static d => d.Drain(), this, preferLocal: false);
    }

    /// <summary>Stops delivery; states not yet delivered are dropped.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            _stopped = true;
            _hasPending = false;
            _pending = default!;
        }
    }

    private void Drain()
    {
        while (true)
        {
            T value;
            lock (_gate)
            {
                if (!_hasPending || _stopped)
                {
                    _running = false;
                    return;
                }

                value = _pending;
                _pending = default!;
                _hasPending = false;
            }

            try
            {
                _observer.OnNext(value);
            }
            catch (Exception e)
            {
                Stop();
                _observer.OnError(e);
                return;
            }
        }
    }
}
