using LibKv.Conformance;
using Microsoft.Extensions.Logging;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>Issue 8 items 6, 9, 11 and 14: endpoint forms, one-line outage logs, HeldUntil, and the store's States.</summary>
public sealed class ConsulStateTests
{
    [Fact]
    public async Task States_go_suspended_reconnected_and_session_lost_then_reconnected_and_closed()
    {
        var server = await ConsulServer.Shared;
        await using var proxy = new TcpProxy(server.HttpPort);
        var root = "states/" + Guid.NewGuid().ToString("N");
        var store = await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { proxy.Endpoint }, Root = root, RequestTimeout = TimeSpan.FromSeconds(1) });
        using var states = new Recorder<StoreState>(store.States);
        await states.WaitFor(s => s.Count == 1 && s[0] == StoreState.Connected, "Connected on subscribe");
        await store.PutAsync("svc", "v"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(15), KeepAlive = true });

        proxy.Freeze();
        var e = await Assert.ThrowsAsync<KvException>(async () => await store.GetAsync("svc"));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        await states.WaitFor(s => s.Contains(StoreState.Suspended), "Suspended once no endpoint answers");
        proxy.Thaw();
        await ConsulSessionLossTests.Until(async () => await Answers(store), "Consul to answer again");
        await states.WaitFor(s => s.Count >= 3 && s[2] == StoreState.Reconnected, "Reconnected once it answers");

        // The session behind the keep-alive key is invalidated out of band.
        await server.DestroySessionsAsync(((ConsulStore)store).SessionIds());
        await states.WaitFor(s => s.Count >= 5, "SessionLost, then Reconnected with a new session");
        Assert.Equal([StoreState.Connected, StoreState.Suspended, StoreState.Reconnected, StoreState.SessionLost, StoreState.Reconnected], states.Items.Take(5));
        Assert.True(await store.ExistsAsync("svc"), "Reconnected after SessionLost comes once the keep-alive key is written again");

        await store.DisposeAsync();
        await states.WaitFor(s => s[^1] == StoreState.Closed, "Closed on dispose");
        await states.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(states.Completed);
    }

    [Fact]
    public async Task An_outage_logs_one_warning_debug_retries_and_one_information_with_its_length()
    {
        var server = await ConsulServer.Shared;
        await using var proxy = new TcpProxy(server.HttpPort);
        var logs = new LevelLoggerFactory();
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { proxy.Endpoint }, Root = "logs", RequestTimeout = TimeSpan.FromSeconds(1), LoggerFactory = logs });
        await store.ExistsAsync("k");

        proxy.Freeze();
        for (var i = 0; i < 3; i++)
        {
            await Assert.ThrowsAsync<KvException>(async () => await store.ExistsAsync("k"));
        }

        proxy.Thaw();
        await ConsulSessionLossTests.Until(async () => await Answers(store), "Consul to answer again");

        var entries = logs.Entries;
        Assert.Single(entries, l => l.Level == LogLevel.Warning);
        Assert.Contains(entries, l => l.Level == LogLevel.Warning && l.Message.Contains(proxy.Endpoint, StringComparison.Ordinal));
        Assert.True(entries.Count(l => l.Level == LogLevel.Debug && l.Message.Contains("attempt", StringComparison.Ordinal)) >= 2, string.Join("\n", entries));
        var recovered = Assert.Single(entries, l => l.Level == LogLevel.Information);
        Assert.Contains("outage of", recovered.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Endpoints_in_every_form_work_and_anything_else_is_a_clear_configuration_error()
    {
        var server = await ConsulServer.Shared;
        var closed = "127.0.0.1:" + ConsulServer.ClosedPort();
        foreach (var endpoints in new[] { new[] { closed + "," + server.Endpoint }, ["http://" + server.Endpoint + "/"], [closed, " " + server.Endpoint + " "] })
        {
            await using var store = await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = endpoints.ToList(), Root = "forms" });
            await store.PutAsync("k", "v"u8.ToArray());
            Assert.Equal("v"u8.ToArray(), (await store.GetAsync("k")).Value);
        }

        // TLS is on for the whole store or not at all: an explicit http:// endpoint next to it is a configuration error.
        var mixed = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { "http://" + server.Endpoint }, Tls = { Enabled = true } }));
        Assert.Equal(KvErrorCode.InvalidConfiguration, mixed.Code);
        Assert.Contains("http://" + server.Endpoint, mixed.Message, StringComparison.Ordinal);

        foreach (var bad in new[] { "127.0.0.1", "ftp://127.0.0.1:8500", "127.0.0.1:99999", "bad host:1", "127.0.0.1:8500/v1" })
        {
            var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { bad } }));
            Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
            Assert.Contains(bad, e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task HeldUntil_is_the_ttl_after_the_last_confirmed_renewal_and_moves_on_with_renewals()
    {
        var server = await ConsulServer.Shared;
        await using var store = new ConsulStore(new StoreOptions { Endpoints = { server.Endpoint }, Root = "helduntil/" + Guid.NewGuid().ToString("N") });
        await using var locker = store.NewLock("l", new LockOptions { Ttl = TimeSpan.FromSeconds(2) });
        Assert.Equal(DateTimeOffset.MinValue, locker.HeldUntil);

        await locker.LockAsync();
        var first = locker.HeldUntil;
        Assert.True(first > DateTimeOffset.UtcNow && first <= DateTimeOffset.UtcNow + TimeSpan.FromSeconds(2), $"HeldUntil {first:O}");
        await ConsulSessionLossTests.Until(() => Task.FromResult(locker.HeldUntil > first + TimeSpan.FromMilliseconds(300)), "a renewal to move HeldUntil on");
        Assert.True(locker.IsHeld);

        await locker.UnlockAsync();
        Assert.Equal(DateTimeOffset.MinValue, locker.HeldUntil);
    }

    private static async Task<bool> Answers(IStore store)
    {
        try
        {
            await store.ExistsAsync("probe");
            return true;
        }
        catch (KvException e) when (e.IsTransient)
        {
            return false;
        }
    }

    /// <summary>Keeps every log entry with its level.</summary>
    private sealed class LevelLoggerFactory : ILoggerFactory
    {
        private readonly List<(LogLevel Level, string Message)> _entries = new();

        public IReadOnlyList<(LogLevel Level, string Message)> Entries
        {
            get
            {
                lock (_entries)
                {
                    return _entries.ToArray();
                }
            }
        }

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(LevelLoggerFactory owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (owner._entries)
                {
                    owner._entries.Add((logLevel, formatter(state, exception)));
                }
            }
        }
    }
}
