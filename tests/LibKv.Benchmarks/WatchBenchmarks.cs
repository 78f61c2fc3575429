using BenchmarkDotNet.Attributes;
using LibKv.Memory;

namespace LibKv.Benchmarks;

/// <summary>Put → watch notification latency on the memory store: a put, then awaiting the observer's OnNext for it.</summary>
[MemoryDiagnoser]
public class WatchBenchmarks
{
    private const string Key = "bench/watched";
    private readonly byte[] _value = new byte[100];
    private readonly Notified _observer = new();
    private MemoryStore _store = null!;
    private IDisposable _subscription = null!;

    [GlobalSetup]
    public void Setup()
    {
        _store = new MemoryStore();
        var first = _observer.Expect();
        _subscription = _store.Watch(Key).Subscribe(_observer);
        first.GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _subscription.Dispose();
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark]
    public async Task PutToNotification()
    {
        var notified = _observer.Expect();
        await _store.PutAsync(Key, _value);
        await notified;
    }

    private sealed class Notified : IObserver<KVPair?>
    {
        private TaskCompletionSource? _next;

        public Task Expect()
        {
            var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _next, next);
            return next.Task;
        }

        public void OnNext(KVPair? value) => Interlocked.Exchange(ref _next, null)?.TrySetResult();

        public void OnError(Exception error) => Interlocked.Exchange(ref _next, null)?.TrySetException(error);

        public void OnCompleted()
        {
        }
    }
}
