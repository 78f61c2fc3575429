using System.Collections.Concurrent;
using System.Diagnostics;
using LibKv.Cluster.Tests.Servers;
using LibKv.Cluster.Tests.Workload;

namespace LibKv.Cluster.Tests;

/// <summary>
/// One run of the fault scenario on a 3-node cluster, shared by the checks of one test class: writers, a CAS counter,
/// lock takers, watchers and a keep-alive key per client run while the leader is killed (-9) and restarted, a
/// follower is paused (SIGSTOP) longer than the TTL and resumed, and the whole cluster is restarted. Then the workload
/// stops and the clients stay up (their watches and keep-alives still running) for the checks.
/// </summary>
public sealed class ClusterRun<TCluster> : IAsyncLifetime
    where TCluster : ServerCluster, new()
{
    /// <summary>The lease of keep-alive keys and locks.</summary>
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);

    /// <summary>How long a check may poll for a condition that should hold at once.</summary>
    public static readonly TimeSpan ConvergeDeadline = TimeSpan.FromSeconds(60);

    /// <summary>The number of clients (stores).</summary>
    public const int Clients = 3;

    /// <summary>The CAS counter's key.</summary>
    public const string CounterKey = "counter";

    private const string LockKey = "locks/turns";

    /// <summary>Longer than <see cref="Ttl"/>: the sessions and leases of clients talking to the paused node are at stake.</summary>
    private static readonly TimeSpan s_pause = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan s_progressDeadline = TimeSpan.FromSeconds(30);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<string> _log = new();
    private readonly List<IStore> _stores = new();
    private readonly List<IDisposable> _subscriptions = new();
    private TCluster? _cluster;

    public IReadOnlyList<KeyWriter> Writers { get; private set; } = [];

    public IReadOnlyList<CasIncrementer> Counters { get; private set; } = [];

    public IReadOnlyList<LockTaker> Takers { get; private set; } = [];

    public ConcurrentQueue<Hold> Holds { get; } = new();

    public IReadOnlyList<KeyWatcher> Watchers { get; private set; } = [];

    /// <summary>True when every workload task ended within 60 s of the stop.</summary>
    public bool WorkloadStopped { get; private set; }

    /// <summary>A store created after the faults, for the checks' reads.</summary>
    public IStore Checker { get; private set; } = null!;

    /// <summary>What happened, with times, for the test output.</summary>
    public string LogText => string.Join('\n', _log);

    /// <summary>The keep-alive key of client <paramref name="client"/>.</summary>
    public static string AliveKey(int client) => $"alive/c{client}";

    /// <summary>Logs a line with the scenario's clock.</summary>
    public void Log(string message) => _log.Enqueue($"[{_clock.Elapsed.TotalSeconds,6:0.0}s] {message}");

    public async Task InitializeAsync()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var ct = bound.Token;
        _cluster = new TCluster();
        Log($"{_cluster.Backend} cluster in {_cluster.Dir}\n{_cluster.Describe()}");
        await _cluster.StartAsync(ct);
        Log("cluster up");
        for (var i = 0; i < Clients; i++)
        {
            _stores.Add(await CreateStoreAsync(_cluster, i, ct));
        }

        Writers = Enumerable.Range(0, Clients).Select(i => new KeyWriter(_stores[i], $"data/w{i}")).ToList();
        Counters = Enumerable.Range(0, 2).Select(i => new CasIncrementer(_stores[i], CounterKey)).ToList();
        Takers = Enumerable.Range(0, Clients).Select(i => new LockTaker($"c{i}", _stores[i], LockKey, Ttl, _clock, Holds)).ToList();
        await SetUpAsync(() => _stores[0].PutAsync(CounterKey, Outcome.Encode(0), cancellationToken: ct), ct);
        var watchers = new List<KeyWatcher>();
        for (var i = 0; i < Clients; i++)
        {
            var store = _stores[i];
            var alive = AliveKey(i);
            await SetUpAsync(() => store.PutAsync(alive, Outcome.Encode(i), new WriteOptions { Ttl = Ttl, KeepAlive = true }, ct), ct);
            _subscriptions.Add(new PresenceLog(_stores[(i + 1) % Clients], AliveKey(i), Log));
            foreach (var w in Writers)
            {
                var watcher = new KeyWatcher($"c{i}", w.Key);
                watcher.Start(_stores[i]);
                watchers.Add(watcher);
                _subscriptions.Add(watcher);
            }
        }

        Watchers = watchers;
        using var stop = new CancellationTokenSource();
        var tasks = Writers.Select(w => Task.Run(() => w.RunAsync(stop.Token)))
            .Concat(Counters.Select(c => Task.Run(() => c.RunAsync(stop.Token))))
            .Concat(Takers.Select(t => Task.Run(() => t.RunAsync(stop.Token))))
            .ToList();
        try
        {
            await RunFaultsAsync(_cluster, new Progress(Writers, Counters, Holds), ct);
        }
        finally
        {
            Log("stopping the workload");
            await stop.CancelAsync();
            var all = Task.WhenAll(tasks);
            WorkloadStopped = await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(60), CancellationToken.None)) == all;
            Summarize();
        }

        Checker = await CreateStoreAsync(_cluster, 0, ct);
    }

    public async Task DisposeAsync()
    {
        foreach (var s in _subscriptions)
        {
            s.Dispose();
        }

        foreach (var s in _stores.Append(Checker).Where(s => s is not null))
        {
            try
            {
                await s.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception)
            {
                // The verdicts are in; a slow dispose is not these tests' subject.
            }
        }

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    /// <summary>Reads <paramref name="key"/> through the checker (null when missing), retrying Unavailable until the deadline.</summary>
    public async Task<KVPair?> ReadAsync(string key)
    {
        var until = DateTime.UtcNow + ConvergeDeadline;
        while (true)
        {
            try
            {
                return await Checker.GetAsync(key);
            }
            catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound)
            {
                return null;
            }
            catch (KvException e) when (e.Code == KvErrorCode.Unavailable && DateTime.UtcNow < until)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>Client <paramref name="client"/>'s options: every node, starting from a different one per client.</summary>
    private static StoreOptions Options(ServerCluster cluster, int client)
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

    private async Task RunFaultsAsync(TCluster cluster, Progress progress, CancellationToken ct)
    {
        await progress.WaitAsync("warm-up", s_progressDeadline, Log, ct);

        var leader = await cluster.LeaderAsync(ct);
        Log($"kill -9 leader n{leader + 1}");
        cluster.Kill(leader);
        Log($"new leader n{await cluster.WaitReadyAsync(ct) + 1}");
        await progress.WaitAsync("after the leader kill", s_progressDeadline, Log, ct);

        Log($"restart n{leader + 1} on its data dir");
        await cluster.RestartAsync(leader, ct);
        await progress.WaitAsync("after the restart of the old leader", s_progressDeadline, Log, ct);

        // Not the restarted node: its clients moved to other nodes when it died, while the clients of a node that never
        // failed still have their connections, streams and sessions there.
        var follower = cluster.FollowerOf(await cluster.LeaderAsync(ct), avoid: leader);
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
    }

    /// <summary>A set-up write (idempotent), retried while a freshly elected cluster still answers Unavailable.</summary>
    private static async Task SetUpAsync(Func<ValueTask> write, CancellationToken ct)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                await write();
                return;
            }
            catch (KvException e) when (e.Code == KvErrorCode.Unavailable && DateTime.UtcNow < until)
            {
                await Task.Delay(200, ct);
            }
        }
    }

    /// <summary>A store of client <paramref name="client"/>, retried while the cluster still answers Unavailable.</summary>
    private async Task<IStore> CreateStoreAsync(ServerCluster cluster, int client, CancellationToken ct)
    {
        var until = DateTime.UtcNow + ConvergeDeadline;
        while (true)
        {
            try
            {
                return await StoreFactory.Default.CreateAsync(Options(cluster, client), ct);
            }
            catch (KvException e) when (e.Code == KvErrorCode.Unavailable && DateTime.UtcNow < until)
            {
                Log($"store of client {client}: {e.Message}");
                await Task.Delay(500, ct);
            }
        }
    }

    private void Summarize()
    {
        foreach (var w in Writers)
        {
            Log($"writer {w.Key}: {w.Acked} acknowledged, {w.Unknown.Count} unknown; errors:\n    {w.Errors}");
        }

        for (var i = 0; i < Counters.Count; i++)
        {
            var c = Counters[i];
            Log($"counter {i}: {c.Acked} acknowledged, {c.Unknown} unknown, {c.Conflicts} conflicts; errors:\n    {c.Errors}");
        }

        foreach (var t in Takers)
        {
            Log($"lock taker {t.Name}: {Holds.Count(h => h.Holder == t.Name)} holds, {t.Lost} lost while held; errors:\n    {t.Errors}");
        }

        Log($"watchers: {Watchers.Sum(w => w.Count)} states delivered, {Watchers.Count(w => w.Error is not null)} failed");
    }
}
