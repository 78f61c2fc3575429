using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;

namespace LibKv.Core;

/// <summary>The <see cref="IStore.States"/> stream of one store: current state on subscribe, each change in order, off the caller's thread.</summary>
public sealed class StateFeed : IDisposable
{
    private readonly object _gate = new();
    private readonly Subject<StoreState> _changes = new();
    private StoreState _current = StoreState.Connected;
    private bool _closed;

    /// <summary>The current state.</summary>
    public StoreState Current
    {
        get
        {
            lock (_gate)
            {
                return _current;
            }
        }
    }

    /// <summary>A cold observable: the current state, then every change, delivered in order on the thread pool.</summary>
    public IObservable<StoreState> Observable => System.Reactive.Linq.Observable.Create<StoreState>(observer =>
    {
        lock (_gate)
        {
            // Under the gate, so no change can slip between the current state and the subscription.
            return _changes.StartWith(_current).ObserveOn(TaskPoolScheduler.Default).Subscribe(observer);
        }
    });

    /// <summary>Moves to <paramref name="state"/>; false when it is the current state or the feed is closed.</summary>
    public bool Set(StoreState state)
    {
        lock (_gate)
        {
            if (_closed || state == _current || state == StoreState.Closed)
            {
                return false;
            }

            _current = state;
            _changes.OnNext(state);
            return true;
        }
    }

    /// <summary>Emits <see cref="StoreState.Closed"/> and completes every subscriber; later calls do nothing.</summary>
    public void Close()
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            _current = StoreState.Closed;
            _changes.OnNext(StoreState.Closed);
            _changes.OnCompleted();
        }
    }

    /// <inheritdoc />
    public void Dispose() => Close();
}
