namespace LibKv.Cluster.Tests.Workload;

/// <summary>Puts 1, 2, 3, ... to one key, one at a time, recording the last acknowledged value and every unknown one.</summary>
public sealed class KeyWriter
{
    private readonly IStore _store;
    private readonly HashSet<long> _unknown = new();
    private readonly Dictionary<long, string> _notSent = new();
    private long _lastAcked;
    private int _acked;

    public KeyWriter(IStore store, string key)
    {
        _store = store;
        Key = key;
    }

    public string Key { get; }

    /// <summary>The highest value whose Put returned.</summary>
    public long LastAcked => Interlocked.Read(ref _lastAcked);

    /// <summary>How many Puts returned.</summary>
    public int Acked => Volatile.Read(ref _acked);

    /// <summary>Failed Puts (each may have been applied).</summary>
    public ErrorTally Errors { get; } = new();

    /// <summary>Values whose Put failed without an answer: each may be applied.</summary>
    public IReadOnlyCollection<long> Unknown
    {
        get
        {
            lock (_unknown)
            {
                return _unknown.ToList();
            }
        }
    }

    /// <summary>Values whose Put failed with Unavailable and OutcomeUnknown = false (LibKv says: certainly not sent), with the error.</summary>
    public IReadOnlyDictionary<long, string> NotSent
    {
        get
        {
            lock (_unknown)
            {
                return new Dictionary<long, string>(_notSent);
            }
        }
    }

    /// <summary>Writes until <paramref name="stop"/>; a failed value is never written again (the next one is).</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        for (long value = 1; !stop.IsCancellationRequested; value++)
        {
            using var bound = Outcome.Bound(stop);
            try
            {
                await _store.PutAsync(Key, Outcome.Encode(value), cancellationToken: bound.Token);
                Interlocked.Exchange(ref _lastAcked, value);
                Interlocked.Increment(ref _acked);
            }
            catch (Exception e)
            {
                lock (_unknown)
                {
                    _unknown.Add(value);
                    if (e is KvException { Code: KvErrorCode.Unavailable, OutcomeUnknown: false })
                    {
                        _notSent[value] = e.Message;
                    }
                }

                if (!stop.IsCancellationRequested)
                {
                    Errors.Add(e);
                    await Outcome.PaceAsync(200, stop);
                }

                continue;
            }

            await Outcome.PaceAsync(20, stop);
        }
    }
}
