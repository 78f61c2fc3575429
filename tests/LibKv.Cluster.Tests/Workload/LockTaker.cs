using System.Collections.Concurrent;
using System.Diagnostics;

namespace LibKv.Cluster.Tests.Workload;

/// <summary>
/// One hold of the lock: who, its fencing token, when LockAsync returned and when the holder stopped its guarded work
/// (its pause ended, or LostToken fired), on the scenario's clock.
/// </summary>
public sealed record Hold(string Holder, ulong Token, TimeSpan AcquiredAt, TimeSpan EndedAt);

/// <summary>Takes the same lock as the other takers in turns, holding it briefly, and records every hold.</summary>
public sealed class LockTaker
{
    private readonly IStore _store;
    private readonly string _key;
    private readonly LockOptions _options;
    private readonly Stopwatch _clock;
    private readonly ConcurrentQueue<Hold> _holds;
    private int _lost;

    public LockTaker(string name, IStore store, string key, TimeSpan ttl, Stopwatch clock, ConcurrentQueue<Hold> holds)
    {
        Name = name;
        _store = store;
        _key = key;
        _options = new LockOptions { Ttl = ttl };
        _clock = clock;
        _holds = holds;
    }

    public string Name { get; }

    /// <summary>Holds that ended while held (LostToken cancelled before unlock).</summary>
    public int Lost => Volatile.Read(ref _lost);

    /// <summary>Failed lock and unlock calls.</summary>
    public ErrorTally Errors { get; } = new();

    /// <summary>Locks, holds about 100 ms, unlocks, until <paramref name="stop"/>; a failed acquire gets a new locker.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var locker = _store.NewLock(_key, _options);
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    CancellationToken lost;
                    using (var bound = Outcome.Bound(stop))
                    {
                        lost = await locker.LockAsync(bound.Token);
                    }

                    var token = locker.FencingToken;
                    var acquiredAt = _clock.Elapsed;
                    using (var work = CancellationTokenSource.CreateLinkedTokenSource(lost, stop))
                    {
                        await Outcome.PaceAsync(100, work.Token);
                    }

                    if (token > 0)
                    {
                        _holds.Enqueue(new Hold(Name, token, acquiredAt, _clock.Elapsed));
                    }

                    if (lost.IsCancellationRequested && !stop.IsCancellationRequested && locker.IsHeld == false)
                    {
                        Interlocked.Increment(ref _lost);
                    }

                    if (locker.IsHeld)
                    {
                        using var bound = Outcome.Bound(CancellationToken.None);
                        try
                        {
                            await locker.UnlockAsync(bound.Token);
                        }
                        catch (Exception e)
                        {
                            Errors.Add(e);
                        }
                    }

                    // Let another taker in before trying again.
                    await Outcome.PaceAsync(50, stop);
                }
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                Errors.Add(e);
                await Outcome.PaceAsync(200, stop);
            }
            catch (Exception)
            {
                // Stopped.
            }
            finally
            {
                await DisposeQuietlyAsync(locker);
            }
        }
    }

    private async Task DisposeQuietlyAsync(ILocker locker)
    {
        try
        {
            await locker.DisposeAsync().AsTask().WaitAsync(Outcome.CallBound);
        }
        catch (Exception e)
        {
            Errors.Add(e);
        }
    }
}
