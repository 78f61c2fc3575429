using System.Collections.Concurrent;
using System.Diagnostics;
using LibKv.Cluster.Tests.Servers;
using LibKv.Cluster.Tests.Workload;
using Xunit.Abstractions;

namespace LibKv.Cluster.Tests;

/// <summary>
/// The fault scenario every backend runs on its 3-node cluster: writers, a CAS counter, lock takers, watchers and a
/// keep-alive key per client run while the leader is killed (-9) and restarted, a follower is paused (SIGSTOP) and
/// resumed, and the whole cluster is restarted; then nothing acknowledged may be lost and every watch must converge.
/// </summary>
public abstract class ClusterScenario
{
    private const int Clients = 3;
    private const string CounterKey = "counter";
    private const string LockKey = "locks/turns";
    /// <summary>Longer than <see cref="Ttl"/>: the sessions and leases of clients talking to the paused node are at stake.</summary>
    private static readonly TimeSpan s_pause = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan s_progressDeadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_convergeDeadline = TimeSpan.FromSeconds(60);
    private readonly ITestOutputHelper _output;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    protected ClusterScenario(ITestOutputHelper output) => _output = output;

    /// <summary>The lease of keep-alive keys and locks.</summary>
    protected virtual TimeSpan Ttl => TimeSpan.FromSeconds(5);

    /// <summary>Creates (does not start) the cluster.</summary>
    protected abstract ServerCluster CreateCluster();

    /// <summary>Client <paramref name="client"/>'s options: every node, starting from a different one per client.</summary>
    protected virtual StoreOptions Options(ServerCluster cluster, int client)
    {
        var endpoints = cluster.ClientEndpoints;
        var options = new StoreOptions
        {
            Backend = cluster.Backend,
            Root = "cluster",
            RequestTimeout = TimeSpan.FromSeconds(5),
            ConnectionTimeout = TimeSpan.FromSeconds(3),
        };
        options.Endpoints.AddRange(Enumerable.Range(0, endpoints.Count).Select(i => endpoints[(i + client) % endpoints.Count]));
        return options;
    }

    /// <summary>Runs the scenario and asserts its invariants.</summary>
    protected async Task RunAsync()
    {
        using var testBound = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var ct = testBound.Token;
        await using var cluster = CreateCluster();
        Log($"{cluster.Backend} cluster in {cluster.Dir}\n{cluster.Describe()}");
        await cluster.StartAsync(ct);
        Log("cluster up");

        var stores = new List<IStore>();
        var watchers = new List<KeyWatcher>();
        try
        {
            for (var i = 0; i < Clients; i++)
            {
                stores.Add(await StoreFactory.Default.CreateAsync(Options(cluster, i), ct));
            }

            var writers = Enumerable.Range(0, Clients).Select(i => new KeyWriter(stores[i], $"data/w{i}")).ToList();
            var counters = Enumerable.Range(0, 2).Select(i => new CasIncrementer(stores[i], CounterKey)).ToList();
            var holds = new ConcurrentQueue<Hold>();
            var takers = Enumerable.Range(0, Clients).Select(i => new LockTaker($"c{i}", stores[i], LockKey, Ttl, _clock, holds)).ToList();
            await stores[0].PutAsync(CounterKey, Outcome.Encode(0), cancellationToken: ct);
            for (var i = 0; i < Clients; i++)
            {
                await stores[i].PutAsync(AliveKey(i), Outcome.Encode(i), new WriteOptions { Ttl = Ttl, KeepAlive = true }, ct);
                foreach (var w in writers)
                {
                    var watcher = new KeyWatcher($"c{i}", w.Key);
                    watcher.Start(stores[i]);
                    watchers.Add(watcher);
                }
            }

            using var stop = new CancellationTokenSource();
            var tasks = writers.Select(w => Task.Run(() => w.RunAsync(stop.Token)))
                .Concat(counters.Select(c => Task.Run(() => c.RunAsync(stop.Token))))
                .Concat(takers.Select(t => Task.Run(() => t.RunAsync(stop.Token))))
                .ToList();

            var progress = new Progress(writers, counters, holds);
            await progress.WaitAsync("warm-up", s_progressDeadline, Log, ct);

            var leader = await cluster.LeaderAsync(ct);
            Log($"kill -9 leader n{leader + 1}");
            cluster.Kill(leader);
            var newLeader = await cluster.WaitReadyAsync(ct);
            Log($"new leader n{newLeader + 1}");
            await progress.WaitAsync("after leader kill", s_progressDeadline, Log, ct);

            Log($"restart n{leader + 1} on its data dir");
            await cluster.RestartAsync(leader, ct);
            await progress.WaitAsync("after restart of the old leader", s_progressDeadline, Log, ct);

            var follower = cluster.FollowerOf(await cluster.LeaderAsync(ct));
            Log($"SIGSTOP follower n{follower + 1} for {s_pause.TotalSeconds} s");
            cluster.Pause(follower);
            await Task.Delay(s_pause, ct);
            cluster.Resume(follower);
            Log($"SIGCONT n{follower + 1}");
            await cluster.WaitReadyAsync(ct);
            await progress.WaitAsync("after the pause", s_progressDeadline, Log, ct);

            Log("restart the whole cluster (kill -9 of every node, then start them on their data dirs)");
            await cluster.RestartAllAsync(ct);
            Log($"cluster back, leader n{await cluster.LeaderAsync(ct) + 1}");
            await progress.WaitAsync("after the full restart", s_progressDeadline, Log, ct);

            Log("stopping the workload");
            await stop.CancelAsync();
            var violations = new List<string>();
            var all = Task.WhenAll(tasks);
            if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(60), ct)) != all)
            {
                violations.Add("the workload did not stop within 60 s of its cancellation (a call ignored its CancellationToken)");
            }

            Summarize(writers, counters, takers, holds, watchers);
            await using var checker = await CreateCheckerAsync(cluster, ct);
            var finals = await CheckWritesAsync(checker, writers, violations, ct);
            await CheckCounterAsync(checker, counters, violations, ct);
            CheckFencing(holds, violations);
            await CheckWatchesAsync(finals, watchers, violations, ct);
            await CheckKeepAlivesAsync(checker, violations, ct);
            Log("done");
            Assert.True(violations.Count == 0, $"{cluster.Backend}: {violations.Count} violation(s):\n- " + string.Join("\n- ", violations));
        }
        finally
        {
            foreach (var w in watchers)
            {
                w.Dispose();
            }

            foreach (var s in stores)
            {
                await DisposeQuietlyAsync(s);
            }
        }
    }

    private static string AliveKey(int client) => $"alive/c{client}";

    private static async Task DisposeQuietlyAsync(IAsyncDisposable d)
    {
        try
        {
            await d.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (Exception)
        {
            // The verdict is already in; a slow dispose is not this test's subject.
        }
    }

    private async Task<IStore> CreateCheckerAsync(ServerCluster cluster, CancellationToken ct)
    {
        var until = DateTime.UtcNow + s_convergeDeadline;
        while (true)
        {
            try
            {
                return await StoreFactory.Default.CreateAsync(Options(cluster, 0), ct);
            }
            catch (KvException e) when (e.Code == KvErrorCode.Unavailable && DateTime.UtcNow < until)
            {
                Log("checker store: " + e.Message);
                await Task.Delay(500, ct);
            }
        }
    }

    /// <summary>Reads <paramref name="key"/>, retrying Unavailable until the deadline.</summary>
    private static async Task<KVPair?> ReadAsync(IStore store, string key, CancellationToken ct)
    {
        var until = DateTime.UtcNow + s_convergeDeadline;
        while (true)
        {
            try
            {
                return await store.GetAsync(key, cancellationToken: ct);
            }
            catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound)
            {
                return null;
            }
            catch (KvException e) when (e.Code == KvErrorCode.Unavailable && DateTime.UtcNow < until)
            {
                await Task.Delay(200, ct);
            }
        }
    }

    /// <summary>The last acknowledged value of every key is what Get returns, or a later write of unknown outcome.</summary>
    private async Task<Dictionary<string, long?>> CheckWritesAsync(IStore checker, List<KeyWriter> writers, List<string> violations, CancellationToken ct)
    {
        var finals = new Dictionary<string, long?>();
        foreach (var w in writers)
        {
            // The writers have stopped: what a read says now is the key's final value.
            var pair = await ReadAsync(checker, w.Key, ct);
            var value = pair is null ? (long?)null : Outcome.Decode(pair.Value);
            finals[w.Key] = value;
            var unknown = w.Unknown;
            var ok = value == w.LastAcked || (value > w.LastAcked && unknown.Contains(value.Value));
            Log($"{w.Key}: read {value?.ToString() ?? "nothing"}, last acknowledged {w.LastAcked}, {unknown.Count} unknown");
            if (!ok)
            {
                violations.Add(
                    $"acknowledged write lost: {w.Key} reads {value?.ToString() ?? "nothing"}, but {w.LastAcked} was acknowledged " +
                    $"(unknown-outcome values above it: {string.Join(", ", unknown.Where(u => u > w.LastAcked).Order().Take(10))})");
            }
        }

        return finals;
    }

    /// <summary>acked ≤ counter ≤ acked + unknown.</summary>
    private async Task CheckCounterAsync(IStore checker, List<CasIncrementer> counters, List<string> violations, CancellationToken ct)
    {
        var pair = await ReadAsync(checker, CounterKey, ct);
        var value = pair is null ? -1 : Outcome.Decode(pair.Value);
        var acked = counters.Sum(c => c.Acked);
        var unknown = counters.Sum(c => c.Unknown);
        Log($"counter: {value}, acknowledged increments {acked}, unknown {unknown}, conflicts {counters.Sum(c => c.Conflicts)}");
        if (value < acked || value > acked + unknown)
        {
            violations.Add($"CAS counter out of bounds: {value}, expected between {acked} acknowledged and {acked + unknown} (acknowledged + unknown)");
        }
    }

    /// <summary>Ordered by when they were acquired, holds have strictly increasing fencing tokens.</summary>
    private void CheckFencing(ConcurrentQueue<Hold> holds, List<string> violations)
    {
        var ordered = holds.OrderBy(h => h.AcquiredAt).ToList();
        Log($"lock holds: {ordered.Count}, tokens {ordered.FirstOrDefault()?.Token}..{ordered.LastOrDefault()?.Token}");
        if (ordered.Count == 0)
        {
            violations.Add("no lock hold at all");
        }

        for (var i = 1; i < ordered.Count; i++)
        {
            if (ordered[i].Token <= ordered[i - 1].Token)
            {
                violations.Add($"fencing token did not increase: {ordered[i - 1]} then {ordered[i]}");
            }
        }
    }

    /// <summary>Every watch's last delivered state is the key's final value (polled).</summary>
    private async Task CheckWatchesAsync(Dictionary<string, long?> finals, List<KeyWatcher> watchers, List<string> violations, CancellationToken ct)
    {
        var converged = await Poll.UntilAsync(() => Task.FromResult(watchers.All(w => w.Last == finals[w.Key])), s_convergeDeadline, ct);
        foreach (var w in watchers)
        {
            if (w.Backwards > 0)
            {
                Log($"note: watch {w.Name} of {w.Key} saw its value go back {w.Backwards} time(s)");
            }

            if (!converged && w.Last != finals[w.Key])
            {
                violations.Add(
                    $"watch {w.Name} of {w.Key} ended on {w.Last?.ToString() ?? "null"}, not the final {finals[w.Key]} " +
                    $"({w.Count} states; error: {w.Error?.Message ?? "none"}; completed: {w.Completed})");
            }
        }
    }

    private async Task CheckKeepAlivesAsync(IStore checker, List<string> violations, CancellationToken ct)
    {
        var present = new bool[Clients];
        await Poll.UntilAsync(
            async () =>
            {
                for (var i = 0; i < Clients; i++)
                {
                    try
                    {
                        present[i] = await checker.ExistsAsync(AliveKey(i), cancellationToken: ct);
                    }
                    catch (KvException e) when (e.Code == KvErrorCode.Unavailable)
                    {
                    }
                }

                return present.All(p => p);
            },
            s_convergeDeadline,
            ct);
        for (var i = 0; i < Clients; i++)
        {
            if (!present[i])
            {
                violations.Add($"keep-alive key {AliveKey(i)} of live client c{i} is gone");
            }
        }
    }

    private void Summarize(List<KeyWriter> writers, List<CasIncrementer> counters, List<LockTaker> takers, ConcurrentQueue<Hold> holds, List<KeyWatcher> watchers)
    {
        foreach (var w in writers)
        {
            Log($"writer {w.Key}: {w.Acked} acknowledged, {w.Unknown.Count} unknown; errors:\n    {w.Errors}");
        }

        for (var i = 0; i < counters.Count; i++)
        {
            Log($"counter {i}: {counters[i].Acked} acknowledged, {counters[i].Unknown} unknown, {counters[i].Conflicts} conflicts; errors:\n    {counters[i].Errors}");
        }

        foreach (var t in takers)
        {
            Log($"lock taker {t.Name}: {holds.Count(h => h.Holder == t.Name)} holds, {t.Lost} lost while held; errors:\n    {t.Errors}");
        }

        Log($"watchers: {watchers.Sum(w => w.Count)} states delivered, {watchers.Count(w => w.Error is not null)} failed");
    }

    private void Log(string message)
    {
        var line = $"[{_clock.Elapsed.TotalSeconds,6:0.0}s] {message}";
        try
        {
            _output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // No test is running any more (a late log from a background task).
        }
    }
}
