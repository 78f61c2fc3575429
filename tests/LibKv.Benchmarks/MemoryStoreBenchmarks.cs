using BenchmarkDotNet.Attributes;
using LibKv.Memory;

namespace LibKv.Benchmarks;

/// <summary>The memory store's basic operations on a 100-byte value, single-threaded.</summary>
[MemoryDiagnoser]
public class MemoryStoreBenchmarks
{
    private const string Key = "bench/key";
    private readonly byte[] _value = new byte[100];
    private MemoryStore _store = null!;
    private KVPair _current = null!;

    [GlobalSetup]
    public void Setup()
    {
        new Random(42).NextBytes(_value);
        _store = new MemoryStore();
        for (var i = 0; i < 1000; i++)
        {
            _store.PutAsync($"bench/other/{i:D4}", _value).AsTask().GetAwaiter().GetResult();
        }

        _store.PutAsync(Key, _value).AsTask().GetAwaiter().GetResult();
        _current = _store.GetAsync(Key).AsTask().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _store.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Get of an existing key: the KVPair and its value copy should be the only allocations.</summary>
    [Benchmark]
    public KVPair GetHit() => _store.GetAsync(Key).GetAwaiter().GetResult();

    [Benchmark]
    public void Put() => _store.PutAsync(Key, _value).GetAwaiter().GetResult();

    /// <summary>A successful compare-and-swap against the version last written.</summary>
    [Benchmark]
    public KVPair AtomicPut() => _current = _store.AtomicPutAsync(Key, _value, _current).GetAwaiter().GetResult();
}
