using System.Globalization;
using System.Text;

namespace LibKv.Cli.Demo;

/// <summary>
/// The guided tour behind <c>libkv demo</c>: service registration with TTL and keep-alive, discovery by WatchTree,
/// an instance expiring, three workers taking a fenced lock in turn, and a watched configuration key.
/// </summary>
internal sealed class DemoTour
{
    private const string ServicesDir = "services/web";
    private const string LockKey = "locks/report-job";
    private const string ConfigKey = "config/web/settings";
    private static readonly TimeSpan s_watchTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_workTime = TimeSpan.FromMilliseconds(150);

    private readonly StoryWriter _story;
    private readonly StoreOptions _adminOptions;
    private readonly StoreOptions _clientOptions;
    private readonly TimeSpan _ttl;
    private readonly bool _memory;
    private readonly string _demoDir;

    public DemoTour(StoryWriter story, StoreOptions connection, TimeSpan ttl)
    {
        _story = story;
        _ttl = ttl;
        _memory = ConnectionOptions.IsMemory(connection.Backend);
        var id = Guid.NewGuid().ToString("N")[..12];
        _demoDir = "libkv-demo/" + id;
        _adminOptions = connection.Clone();
        if (_memory && _adminOptions.Endpoints.Count == 0)
        {
            // Every actor gets its own client of one shared in-process data space, as clients of one server would.
            _adminOptions.Endpoints.Add("libkv-demo-" + id);
        }

        _clientOptions = _adminOptions.Clone();
        _clientOptions.Root = KeyPath.Combine(KeyPath.NormalizeRoot(connection.Root), _demoDir);
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var where = _memory ? $"in-memory space '{_adminOptions.Endpoints[0]}'" : string.Join(",", _adminOptions.Endpoints);
        _story.Plain($"libkv demo: {_adminOptions.Backend} ({where}), keys under '{_clientOptions.Root}', registration TTL {Durations.Format(_ttl)}.");
        var admin = await ConnectionOptions.ConnectAsync(_adminOptions, cancellationToken).ConfigureAwait(false);
        await using (admin.ConfigureAwait(false))
        {
            try
            {
                await using (var clients = new DemoClients(_clientOptions))
                {
                    await DiscoveryAsync(clients, cancellationToken).ConfigureAwait(false);
                    await LocksAsync(clients, cancellationToken).ConfigureAwait(false);
                    await ConfigurationAsync(clients, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                await CleanUpAsync(admin).ConfigureAwait(false);
            }
        }

        _story.Plain($"The tour took {_story.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s.");
    }

    private async Task DiscoveryAsync(DemoClients clients, CancellationToken cancellationToken)
    {
        _story.Step(1, $"Service discovery: two instances of 'web' register under {ServicesDir}/ with a TTL of {Durations.Format(_ttl)} and keep-alive.");
        var discoveryClient = await clients.OpenAsync(cancellationToken).ConfigureAwait(false);
        var seen = new Observed<IReadOnlyList<KVPair>>(Array.Empty<KVPair>());
        var discovery = discoveryClient.WatchTree(ServicesDir).Subscribe(
            list =>
            {
                _story.Say("discovery sees: " + (list.Count == 0 ? "(none)" : string.Join(", ", list.Select(p => Name(p.Key)))));
                seen.Set(list);
            },
            seen.Fail);
        using (discovery)
        {
            await seen.WaitForAsync(_ => true, s_watchTimeout, "the first discovery snapshot", cancellationToken).ConfigureAwait(false);
            var web1 = await clients.OpenAsync(cancellationToken).ConfigureAwait(false);
            var web2 = await clients.OpenAsync(cancellationToken).ConfigureAwait(false);
            await RegisterAsync(web1, "web-1", "10.0.0.1:8080", cancellationToken).ConfigureAwait(false);
            await RegisterAsync(web2, "web-2", "10.0.0.2:8080", cancellationToken).ConfigureAwait(false);
            await seen.WaitForAsync(l => Has(l, "web-1") && Has(l, "web-2"), s_watchTimeout, "both instances in discovery", cancellationToken).ConfigureAwait(false);
            _story.Say("both instances are live; callers balance over web-1 and web-2.");

            _story.Step(2, "web-2 shuts down: closing its client ends its lease, so its entry goes without an explicit deregistration (a crashed instance would go when its TTL ran out); web-1's client keeps its own alive.");
            var shutdown = _story.Elapsed;
            await clients.CloseAsync(web2).ConfigureAwait(false);
            await WaitUntilGoneAsync(discoveryClient, ServicesDir + "/web-2", seen, cancellationToken).ConfigureAwait(false);
            await seen.WaitForAsync(l => !Has(l, "web-2") && Has(l, "web-1"), s_watchTimeout, "discovery to drop web-2", cancellationToken).ConfigureAwait(false);
            var gone = _story.Elapsed - shutdown;
            _story.Say($"web-2 is gone, {gone.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s after shutdown; web-1 is still live.");
        }
    }

    private async Task RegisterAsync(IStore client, string name, string address, CancellationToken cancellationToken)
    {
        await client.PutAsync($"{ServicesDir}/{name}", Encoding.UTF8.GetBytes(address), new WriteOptions { Ttl = _ttl, KeepAlive = true }, cancellationToken).ConfigureAwait(false);
        _story.Say($"{name} registered at {address}");
    }

    /// <summary>Polls until the key is gone, woken early by discovery changes; fails past the contract's bound of 2 × TTL + 1 s (plus slack).</summary>
    private async Task WaitUntilGoneAsync(IStore client, string key, Observed<IReadOnlyList<KVPair>> seen, CancellationToken cancellationToken)
    {
        var limit = (2 * _ttl) + TimeSpan.FromSeconds(6);
        var deadline = _story.Elapsed + limit;
        var pollEvery = TimeSpan.FromMilliseconds(Math.Clamp(_ttl.TotalMilliseconds / 5, 50, 500));
        while (await client.ExistsAsync(key, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (_story.Elapsed > deadline)
            {
                throw new TimeoutException($"'{key}' was still registered {Durations.Format(limit)} after its client went away.");
            }

            await Task.WhenAny(seen.NextChange, Task.Delay(pollEvery, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private async Task LocksAsync(DemoClients clients, CancellationToken cancellationToken)
    {
        var ordered = !string.Equals(_adminOptions.Backend, "consul", StringComparison.OrdinalIgnoreCase);
        _story.Step(3, $"Fenced lock: three workers, each with its own client, contend for '{LockKey}'. "
            + (ordered ? "They are served in arrival order" : "Consul serves waiters in no set order")
            + ", and each hold carries a larger fencing token.");
        var resource = new FencedResource();
        var lockers = new List<ILocker>();
        try
        {
            for (var i = 1; i <= 3; i++)
            {
                var client = await clients.OpenAsync(cancellationToken).ConfigureAwait(false);
                lockers.Add(client.NewLock(LockKey, new LockOptions { Value = Encoding.UTF8.GetBytes("worker-" + i) }));
            }

            await lockers[0].LockAsync(cancellationToken).ConfigureAwait(false);
            var firstToken = lockers[0].FencingToken;
            _story.Say($"worker-1 acquired the lock, fencing token {firstToken}");
            var waiting = new Dictionary<Task, int>();
            for (var i = 1; i < lockers.Count; i++)
            {
                waiting.Add(lockers[i].LockAsync(cancellationToken).AsTask(), i);
                _story.Say($"worker-{i + 1} waits {(ordered ? "in line" : "for the lock")}");
                if (!_memory && ordered)
                {
                    // A server orders waiters by arrival; give each request time to reach it before the next one.
                    await Task.Delay(TimeSpan.FromMilliseconds(300), cancellationToken).ConfigureAwait(false);
                }
            }

            // Each holder works, then releases; the next holder is whoever the backend serves, never assumed by name.
            var holder = 0;
            while (true)
            {
                var name = $"worker-{holder + 1}";
                var token = lockers[holder].FencingToken;
                _story.Say(resource.TryWrite(token) ? $"{name} writes the report; the report store accepts token {token}" : $"{name}'s write is refused");
                await Task.Delay(s_workTime, cancellationToken).ConfigureAwait(false);
                await lockers[holder].UnlockAsync(cancellationToken).ConfigureAwait(false);
                _story.Say($"{name} released the lock");
                if (waiting.Count == 0)
                {
                    break;
                }

                var next = await Task.WhenAny(waiting.Keys).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
                await next.ConfigureAwait(false);
                holder = waiting[next];
                waiting.Remove(next);
                _story.Say($"worker-{holder + 1} acquired the lock, fencing token {lockers[holder].FencingToken}");
            }

            var accepted = resource.TryWrite(firstToken);
            _story.Say(accepted
                ? $"a late write with worker-1's old token {firstToken} was accepted (unexpected)"
                : $"a late write with worker-1's old token {firstToken} is refused: the report store has seen token {resource.Highest}");
        }
        finally
        {
            foreach (var locker in lockers)
            {
                await locker.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task ConfigurationAsync(DemoClients clients, CancellationToken cancellationToken)
    {
        _story.Step(4, $"Configuration: web-1 watches '{ConfigKey}' while an operator changes it.");
        var service = await clients.OpenAsync(cancellationToken).ConfigureAwait(false);
        var operatorClient = await clients.OpenAsync(cancellationToken).ConfigureAwait(false);
        var seen = new Observed<KVPair?>(null);
        var watch = service.Watch(ConfigKey).Subscribe(
            pair =>
            {
                _story.Say(pair is not null
                    ? $"config watcher sees '{ValueText.DescribeLine(pair.Value)}' (index {pair.LastIndex})"
                    : seen.Current is null ? "config watcher: no settings yet, web-1 uses its defaults"
                    : "config watcher: settings deleted, web-1 falls back to its defaults");
                seen.Set(pair);
            },
            seen.Fail);
        using (watch)
        {
            await seen.WaitForAsync(_ => true, s_watchTimeout, "the first config state", cancellationToken).ConfigureAwait(false);
            string[] versions = ["version=1 theme=light", "version=2 theme=dark", "version=3 theme=dark beta=on"];
            foreach (var version in versions)
            {
                _story.Say($"operator writes '{version}'");
                await operatorClient.PutAsync(ConfigKey, Encoding.UTF8.GetBytes(version), cancellationToken: cancellationToken).ConfigureAwait(false);
                await seen.WaitForAsync(p => p is not null && Encoding.UTF8.GetString(p.Value) == version, s_watchTimeout, $"the watcher to see '{version}'", cancellationToken).ConfigureAwait(false);
            }

            _story.Say("operator deletes the settings");
            await operatorClient.DeleteAsync(ConfigKey, cancellationToken).ConfigureAwait(false);
            await seen.WaitForAsync(p => p is null, s_watchTimeout, "the watcher to see the delete", cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task CleanUpAsync(IStore admin)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await admin.DeleteTreeAsync(_demoDir, timeout.Token).ConfigureAwait(false);
        }
        catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound)
        {
        }

        _story.Step(5, $"Clean-up: removed '{_clientOptions.Root}' and closed every client.");
    }

    private static bool Has(IReadOnlyList<KVPair> list, string name) => list.Any(p => Name(p.Key) == name);

    private static string Name(string key) => key[(key.LastIndexOf('/') + 1)..];
}
