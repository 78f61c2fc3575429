namespace LibKv.Cluster.Tests.Workload;

/// <summary>One Watch subscription on a written key: the last value it delivered, and whether values ever went back.</summary>
public sealed class KeyWatcher : IObserver<KVPair?>, IDisposable
{
    private readonly object _gate = new();
    private IDisposable? _subscription;
    private long? _last;
    private int _count;
    private readonly List<(long From, long To)> _steps = new();
    private readonly HashSet<long> _seen = new();

    public KeyWatcher(string name, string key)
    {
        Name = name;
        Key = key;
    }

    public string Name { get; }

    public string Key { get; }

    /// <summary>The value of the last delivered state (null for a missing key or nothing delivered yet).</summary>
    public long? Last
    {
        get
        {
            lock (_gate)
            {
                return _last;
            }
        }
    }

    /// <summary>States delivered.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Every value delivered.</summary>
    public IReadOnlyCollection<long> Seen
    {
        get
        {
            lock (_gate)
            {
                return _seen.ToList();
            }
        }
    }

    /// <summary>Every step where a delivered value was lower than the one delivered before it.</summary>
    public IReadOnlyList<(long From, long To)> BackSteps
    {
        get
        {
            lock (_gate)
            {
                return _steps.ToList();
            }
        }
    }

    /// <summary>OnError's exception, if the watch failed.</summary>
    public Exception? Error { get; private set; }

    /// <summary>True once OnCompleted came.</summary>
    public bool Completed { get; private set; }

    /// <summary>Subscribes to <paramref name="store"/>'s watch of <see cref="Key"/>.</summary>
    public void Start(IStore store) => _subscription = store.Watch(Key).Subscribe(this);

    public void OnNext(KVPair? value)
    {
        lock (_gate)
        {
            long? v = value is null ? null : Outcome.Decode(value.Value);
            if (v is not null && _last is not null && v < _last)
            {
                _steps.Add((_last.Value, v.Value));
            }

            if (v is not null)
            {
                _seen.Add(v.Value);
            }

            _last = v;
            _count++;
        }
    }

    public void OnError(Exception error) => Error = error;

    public void OnCompleted() => Completed = true;

    public void Dispose() => _subscription?.Dispose();
}
