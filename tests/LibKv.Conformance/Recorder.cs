using Xunit;

namespace LibKv.Conformance;

/// <summary>Subscribes to a watch and records what it emits, so tests can wait for a state.</summary>
public sealed class Recorder<T> : IObserver<T>, IDisposable
{
    private readonly List<T> _items = new();
    private readonly IDisposable _subscription;
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Recorder(IObservable<T> source) => _subscription = source.Subscribe(this);

    public bool Completed { get; private set; }

    public Exception? Error { get; private set; }

    public Task Ended => _ended.Task;

    public IReadOnlyList<T> Items
    {
        get
        {
            lock (_items)
            {
                return _items.ToArray();
            }
        }
    }

    /// <summary>Waits until the recorded items satisfy <paramref name="condition"/>.</summary>
    public async Task<IReadOnlyList<T>> WaitFor(Func<IReadOnlyList<T>, bool> condition, string what, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var items = Items;
            if (condition(items))
            {
                return items;
            }

            if (Error is not null)
            {
                Assert.Fail($"Watch failed while waiting for {what}: {Error}");
            }

            if (DateTime.UtcNow > until)
            {
                Assert.Fail($"Timed out waiting for {what}; saw {items.Count} states: {string.Join(" | ", items.Select(Describe))}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the latest recorded item satisfies <paramref name="condition"/>.</summary>
    public async Task<T> WaitForLast(Func<T, bool> condition, string what)
    {
        var items = await WaitFor(i => i.Count > 0 && condition(i[^1]), what);
        return items[^1];
    }

    public void OnNext(T value)
    {
        lock (_items)
        {
            _items.Add(value);
        }
    }

    public void OnError(Exception error)
    {
        Error = error;
        _ended.TrySetResult();
    }

    public void OnCompleted()
    {
        Completed = true;
        _ended.TrySetResult();
    }

    public void Dispose() => _subscription.Dispose();

    private static string Describe(T item) => item switch
    {
        null => "null",
        KVPair p => $"{p.Key}@{p.LastIndex}",
        IReadOnlyList<KVPair> l => "[" + string.Join(",", l.Select(p => $"{p.Key}@{p.LastIndex}")) + "]",
        _ => item.ToString() ?? "?",
    };
}
