using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Reactive.Subjects;
using LibKv.Core;
using LibKv.Memory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace LibKv.Tests;

/// <summary>The Core parts of issue 8: connection states, index resets, hold deadlines, endpoint forms, durations.</summary>
public sealed class FaultContractTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Memory_states_follow_session_loss_and_dispose()
    {
        var store = new MemoryStore();
        var seen = new List<StoreState>();
        var completed = new TaskCompletionSource();
        using var sub = store.States.Subscribe(s => { lock (seen) { seen.Add(s); } }, () => completed.TrySetResult());
        await Until(() => Snapshot(seen).Count == 1);
        store.ExpireSession();
        await Until(() => Snapshot(seen).Count == 3);
        await store.DisposeAsync();
        await completed.Task.WaitAsync(Deadline);
        Assert.Equal(new[] { StoreState.Connected, StoreState.SessionLost, StoreState.Reconnected, StoreState.Closed }, Snapshot(seen));
    }

    [Fact]
    public async Task A_subscriber_after_dispose_sees_Closed_then_completes()
    {
        var store = new MemoryStore();
        await store.DisposeAsync();
        var states = await store.States.ToList().ToTask().WaitAsync(Deadline);
        Assert.Equal(new[] { StoreState.Closed }, states);
    }

    [Fact]
    public async Task Memory_keep_alive_key_is_written_again_after_a_lost_session()
    {
        var space = "ka-" + Guid.NewGuid().ToString("N");
        await using var owner = new MemoryStore(new StoreOptions { Endpoints = { space } });
        await using var observer = new MemoryStore(new StoreOptions { Endpoints = { space } });
        await owner.PutAsync("svc/a", "addr"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(5), KeepAlive = true });
        var states = new List<KVPair?>();
        using var sub = observer.Watch("svc/a").Subscribe(p => { lock (states) { states.Add(p); } });
        await Until(() => Snapshot(states).Count == 1);
        owner.ExpireSession();

        // The watch may coalesce the gap; it ends on the key written again.
        await Until(() => Snapshot(states)[^1] is { } last && last.LastIndex > Snapshot(states)[0]!.LastIndex);
        Assert.Equal("addr"u8.ToArray(), Snapshot(states)[^1]!.Value);

        // Still owned by the store: disposing it removes the key.
        await owner.DisposeAsync();
        Assert.False(await observer.ExistsAsync("svc/a"));
    }

    [Fact]
    public async Task A_plain_put_ends_a_keep_alive_so_a_lost_session_does_not_bring_the_old_value_back()
    {
        await using var store = new MemoryStore();
        await store.PutAsync("svc/a", "old"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(5), KeepAlive = true });
        await store.PutAsync("svc/a", "plain"u8.ToArray());
        store.ExpireSession();
        Assert.Equal("plain"u8.ToArray(), (await store.GetAsync("svc/a")).Value);
        await store.DeleteAsync("svc/a");
        store.ExpireSession();
        Assert.False(await store.ExistsAsync("svc/a"));
    }

    [Fact]
    public async Task After_an_index_reset_a_watch_delivers_lower_indexes_and_orders_from_there()
    {
        await using var store = new ScriptedStore();
        var seen = new List<ulong>();
        using var sub = store.Watch("k").Subscribe(p => { lock (seen) { seen.Add(p!.LastIndex); } });
        store.Emit(16);
        store.Emit(13);   // stale without a reset: dropped
        await Until(() => Snapshot(seen).Count == 1);
        store.Reset();
        store.Emit(13);
        store.Emit(12);   // older than the new order: dropped
        store.Emit(14);
        await Until(() => Snapshot(seen).Count == 3);
        Assert.Equal(new ulong[] { 16, 13, 14 }, Snapshot(seen));
    }

    [Fact]
    public async Task A_hold_is_lost_when_its_confirmed_deadline_passes()
    {
        var time = new ManualTimeProvider();
        await using var locker = new ConfirmingLocker(time, TimeSpan.FromSeconds(5));
        var lost = await locker.LockAsync();
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(5), locker.HeldUntil);
        time.Advance(TimeSpan.FromSeconds(3));
        locker.Renew();   // sent now, valid 5 s: until t+8
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(lost.IsCancellationRequested);
        Assert.True(locker.IsHeld);
        time.Advance(TimeSpan.FromSeconds(1.5));
        Assert.True(lost.IsCancellationRequested);
        Assert.False(locker.IsHeld);
        Assert.Equal(DateTimeOffset.MinValue, locker.HeldUntil);
    }

    [Fact]
    public async Task A_hold_confirmed_with_an_old_send_time_does_not_move_its_deadline_back()
    {
        var time = new ManualTimeProvider();
        await using var locker = new ConfirmingLocker(time, TimeSpan.FromSeconds(5));
        await locker.LockAsync();
        var until = locker.HeldUntil;
        locker.Confirm(time.GetTimestamp() - TimeSpan.TicksPerSecond * 2);
        Assert.Equal(until, locker.HeldUntil);
    }

    [Fact]
    public async Task Memory_holds_have_no_lease_deadline()
    {
        await using var store = new MemoryStore();
        await using var locker = store.NewLock("l");
        Assert.Equal(DateTimeOffset.MinValue, locker.HeldUntil);
        await locker.LockAsync();
        Assert.Equal(DateTimeOffset.MaxValue, locker.HeldUntil);
    }

    [Theory]
    [InlineData("127.0.0.1:2379", "127.0.0.1", 2379, false)]
    [InlineData("http://127.0.0.1:8500", "127.0.0.1", 8500, false)]
    [InlineData("http://127.0.0.1:8500/", "127.0.0.1", 8500, false)]
    [InlineData("HTTPS://db.example:443", "db.example", 443, true)]
    [InlineData("[::1]:2181", "::1", 2181, false)]
    [InlineData(" localhost:1 ", "localhost", 1, false)]
    public void Accepted_endpoint_forms(string text, string host, int port, bool tls)
    {
        var e = Assert.Single(Endpoint.ParseAll([text], "x:1"));
        Assert.Equal((host, port, tls), (e.Host, e.Port, e.Tls));
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:port")]
    [InlineData("grpc://127.0.0.1:2379")]
    [InlineData("http://127.0.0.1:8500/v1/kv")]
    [InlineData("user@127.0.0.1:1")]
    [InlineData("::1:2181")]
    [InlineData("bad host:1")]
    public void Other_endpoint_forms_are_InvalidConfiguration_naming_the_text(string text)
    {
        var e = Assert.Throws<KvException>(() => Endpoint.ParseAll([text], "x:1"));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains(text.Trim(), e.Message);
    }

    [Fact]
    public void A_comma_separated_entry_is_a_list()
    {
        var all = Endpoint.ParseAll(["127.0.0.1:1, 127.0.0.1:2379", "https://h:3"], "x:1");
        Assert.Equal(new[] { "127.0.0.1:1", "127.0.0.1:2379", "https://h:3" }, all.Select(e => e.ToString()));
    }

    [Fact]
    public async Task The_factory_rejects_a_bad_endpoint_at_start_naming_it()
    {
        var factory = new StoreFactory().Register("net", (o, _) => ValueTask.FromResult<IStore>(new MemoryStore()));
        var e = await Assert.ThrowsAsync<KvException>(async () => await factory.CreateAsync("net", new StoreOptions { Endpoints = { "127.0.0.1:1,nohost" } }));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains("nohost", e.Message);
    }

    [Theory]
    [InlineData("5s", 5000)]
    [InlineData("500ms", 500)]
    [InlineData("00:00:05", 5000)]
    [InlineData("2m", 120000)]
    [InlineData("1.5", 1500)]
    public void Configuration_durations_are_written_as_on_the_command_line(string text, int ms)
    {
        var options = Bind(new() { ["KvStore:RequestTimeout"] = text, ["KvStore:ConnectionTimeout"] = text });
        Assert.Equal(TimeSpan.FromMilliseconds(ms), options.RequestTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(ms), options.ConnectionTimeout);
    }

    [Fact]
    public void Configuration_endpoints_may_be_one_comma_separated_string()
    {
        var options = Bind(new() { ["KvStore:Backend"] = "etcd", ["KvStore:Endpoints"] = "a:1,b:2", ["KvStore:Root"] = "app" });
        Assert.Equal(new[] { "a:1", "b:2" }, options.Endpoints);
        Assert.Equal("app", options.Root);
        Assert.Equal("etcd", options.Backend);
    }

    [Fact]
    public void Configuration_endpoints_as_a_list_keep_their_order()
    {
        var options = Bind(new() { ["KvStore:Endpoints:1"] = "b:2", ["KvStore:Endpoints:0"] = "a:1", ["KvStore:Endpoints:2"] = "c:3" });
        Assert.Equal(new[] { "a:1", "b:2", "c:3" }, options.Endpoints);
    }

    [Fact]
    public void A_configuration_duration_that_is_not_one_fails_at_start_naming_it()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["KvStore:RequestTimeout"] = "soon" }).Build();
        using var provider = new ServiceCollection().AddKvStore(configuration.GetSection("KvStore")).Services.BuildServiceProvider();
        var e = Assert.Throws<KvException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains("'soon'", e.Message);
    }

    [Fact]
    public void A_bad_configured_endpoint_fails_validation_at_start_naming_it()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["KvStore:Backend"] = "memory",
            ["KvStore:Endpoints"] = "space",
        }).Build();
        using var ok = new ServiceCollection().AddKvStore(configuration.GetSection("KvStore")).Services.BuildServiceProvider();
        ok.GetRequiredService<IStartupValidator>().Validate();

        var errors = StoreOptionsValidator.Check(new StoreOptions { Backend = "memory", Endpoints = { "x" } }, new StoreFactory().Register("net", (o, _) => ValueTask.FromResult<IStore>(new MemoryStore())));
        Assert.Contains(errors, e => e.Contains("Backend 'memory' is unknown", StringComparison.Ordinal));
        var net = StoreOptionsValidator.Check(new StoreOptions { Backend = "net", Endpoints = { "a:1,b" } }, new StoreFactory().Register("net", (o, _) => ValueTask.FromResult<IStore>(new MemoryStore())));
        Assert.Contains(net, e => e.Contains("'b'", StringComparison.Ordinal));
    }

    [Fact]
    public void Outcome_unknown_writes_are_transient_and_say_so()
    {
        var unknown = KvException.Unavailable("Put timed out.", outcomeUnknown: true, key: "k");
        Assert.True(unknown.OutcomeUnknown);
        Assert.True(unknown.IsTransient);
        Assert.Equal(KvErrorCode.Unavailable, unknown.Code);
        Assert.Contains("outcome unknown", unknown.Message);
        Assert.False(KvException.Unavailable("refused").OutcomeUnknown);
    }

    private static StoreOptions Bind(Dictionary<string, string?> data)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(data).Build();
        using var provider = new ServiceCollection().AddKvStore(configuration.GetSection("KvStore")).Services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<StoreOptions>>().Value;
    }

    private static List<T> Snapshot<T>(List<T> list)
    {
        lock (list)
        {
            return list.ToList();
        }
    }

    private static async Task Until(Func<bool> condition)
    {
        var end = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < end, "condition not met in time");
            await Task.Delay(10);
        }
    }

    /// <summary>A locker whose backend confirms its lease on demand.</summary>
    private sealed class ConfirmingLocker(TimeProvider time, TimeSpan lease) : LockerBase("l", new LockOptions(), time)
    {
        private LockHold? _hold;

        public void Renew() => _hold!.Confirm(Time.GetTimestamp(), lease);

        public void Confirm(long sent) => _hold!.Confirm(sent, lease);

        protected override ValueTask AcquireCoreAsync(LockHold hold, CancellationToken cancellationToken)
        {
            hold.FencingToken = 1;
            hold.Confirm(Time.GetTimestamp(), lease);
            _hold = hold;
            return ValueTask.CompletedTask;
        }

        protected override ValueTask ReleaseCoreAsync(LockHold hold, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    /// <summary>A store whose watch states the test emits, to drive the base's ordering rules.</summary>
    private sealed class ScriptedStore() : KvStoreBase(new StoreOptions())
    {
        private readonly Subject<KVPair?> _states = new();

        public override string Backend => "scripted";

        public void Emit(ulong index) => _states.OnNext(new KVPair("k", [], index));

        public void Reset() => NoteIndexReset();

        protected override IObservable<KVPair?> WatchCore(string key, ReadOptions options) => _states;

        protected override IObservable<IReadOnlyList<KVPair>> WatchTreeCore(string directory, ReadOptions options) => throw new NotSupportedException();

        protected override ValueTask PutCoreAsync(string key, ReadOnlyMemory<byte> value, WriteOptions options, CancellationToken cancellationToken) => throw new NotSupportedException();

        protected override ValueTask<KVPair> GetCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken) => throw new NotSupportedException();

        protected override ValueTask DeleteCoreAsync(string key, CancellationToken cancellationToken) => throw new NotSupportedException();

        protected override ValueTask<bool> ExistsCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken) => throw new NotSupportedException();

        protected override ValueTask<IReadOnlyList<KVPair>> ListCoreAsync(string directory, ReadOptions options, CancellationToken cancellationToken) => throw new NotSupportedException();

        protected override ValueTask DeleteTreeCoreAsync(string directory, CancellationToken cancellationToken) => throw new NotSupportedException();

        protected override ValueTask<KVPair> AtomicPutCoreAsync(string key, ReadOnlyMemory<byte> value, KVPair? previous, WriteOptions options, CancellationToken cancellationToken) => throw new NotSupportedException();

        protected override ValueTask AtomicDeleteCoreAsync(string key, KVPair previous, CancellationToken cancellationToken) => throw new NotSupportedException();

        protected override ILocker NewLockCore(string key, LockOptions options) => throw new NotSupportedException();

        protected override ValueTask DisposeCoreAsync()
        {
            _states.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
