namespace LibKv.Cluster.Tests.Workload;

/// <summary>
/// Increments a decimal counter by read + AtomicPut, counting acknowledged increments and increments of unknown outcome;
/// after an unknown outcome it reads again (never resends the same write).
/// </summary>
public sealed class CasIncrementer
{
    private readonly IStore _store;
    private readonly string _key;
    private int _acked;
    private int _unknown;
    private int _conflicts;

    public CasIncrementer(IStore store, string key)
    {
        _store = store;
        _key = key;
    }

    /// <summary>Increments whose AtomicPut returned.</summary>
    public int Acked => Volatile.Read(ref _acked);

    /// <summary>Increments that failed without an answer: each may have been applied.</summary>
    public int Unknown => Volatile.Read(ref _unknown);

    /// <summary>Increments refused by the version check (certainly not applied).</summary>
    public int Conflicts => Volatile.Read(ref _conflicts);

    /// <summary>Failed reads and writes.</summary>
    public ErrorTally Errors { get; } = new();

    /// <summary>Increments until <paramref name="stop"/>.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            KVPair current;
            using (var bound = Outcome.Bound(stop))
            {
                try
                {
                    current = await _store.GetAsync(_key, cancellationToken: bound.Token);
                }
                catch (Exception e) when (!stop.IsCancellationRequested)
                {
                    Errors.Add(e);
                    await Outcome.PaceAsync(200, stop);
                    continue;
                }
                catch (Exception)
                {
                    break;
                }
            }

            using (var bound = Outcome.Bound(stop))
            {
                try
                {
                    await _store.AtomicPutAsync(_key, Outcome.Encode(Outcome.Decode(current.Value) + 1), current, cancellationToken: bound.Token);
                    Interlocked.Increment(ref _acked);
                }
                catch (Exception e) when (Outcome.CertainlyNotApplied(e))
                {
                    Interlocked.Increment(ref _conflicts);
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref _unknown);
                    if (!stop.IsCancellationRequested)
                    {
                        Errors.Add(e);
                        await Outcome.PaceAsync(200, stop);
                    }

                    continue;
                }
            }

            await Outcome.PaceAsync(20, stop);
        }
    }
}
