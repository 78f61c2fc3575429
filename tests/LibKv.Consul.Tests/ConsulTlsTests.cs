using System.Diagnostics;
using LibKv.Conformance;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>A dev agent serving its API over HTTPS only, with client certificates required (verify_incoming_https).</summary>
public sealed class ConsulTlsFixture : IAsyncLifetime
{
    public TestCertificates Certificates { get; } = TestCertificates.Create();

    public ConsulServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await ConsulServer.StartTlsAsync(Certificates);

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Certificates.Dispose();
    }
}

/// <summary>Issue 9: the Consul store over mutual TLS, and the clear errors when TLS is set up wrong.</summary>
public sealed class ConsulTlsTests(ConsulTlsFixture tls) : IClassFixture<ConsulTlsFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Over_mutual_TLS_basic_ops_a_watch_a_lock_and_a_keep_alive_key_work()
    {
        var root = "tls/" + Guid.NewGuid().ToString("N");
        await using var store = await StoreFactory.Default.CreateAsync(Options("https://" + tls.Server.Endpoint, root));

        // Tls.Enabled with a bare host:port is the same as https://.
        await using var other = await StoreFactory.Default.CreateAsync(Options(tls.Server.Endpoint, root, enabled: true));

        await store.PutAsync("a", "1"u8.ToArray());
        Assert.Equal("1"u8.ToArray(), (await other.GetAsync("a")).Value);
        var pair = await store.AtomicPutAsync("a", "2"u8.ToArray(), await store.GetAsync("a"));
        Assert.Single(await store.ListAsync(""));

        using var watch = new Recorder<KVPair?>(other.Watch("a"));
        await watch.WaitFor(l => l.Count > 0 && l[^1]?.LastIndex == pair.LastIndex, "the watch's first state");
        await store.PutAsync("a", "3"u8.ToArray());
        await watch.WaitFor(l => l[^1] is { } p && p.Value.SequenceEqual("3"u8.ToArray()), "the watch sees the write over TLS");

        await using (var locker = store.NewLock("lock", new LockOptions { Ttl = TimeSpan.FromSeconds(2) }))
        {
            await locker.LockAsync();
            await using var contender = other.NewLock("lock", new LockOptions { Ttl = TimeSpan.FromSeconds(2) });
            Assert.False(await contender.TryLockAsync(TimeSpan.FromMilliseconds(300)));
            await locker.UnlockAsync();
            Assert.True(await contender.TryLockAsync(Deadline));
        }

        // A keep-alive key outlives 2 × TTL + 1 s only because its session is renewed over TLS.
        await store.PutAsync("svc", "up"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(2), KeepAlive = true });
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(5.5))
        {
            Assert.True(await other.ExistsAsync("svc"), $"the keep-alive key vanished after {clock.Elapsed}");
            await Task.Delay(200);
        }

        await store.DeleteAsync("a");
        Assert.False(await other.ExistsAsync("a"));
    }

    [Fact]
    public async Task A_server_certificate_from_another_CA_fails_at_CreateAsync_with_InvalidConfiguration_naming_the_problem()
    {
        using var otherCa = TestCertificates.Create("Some other CA");
        var options = Options("https://" + tls.Server.Endpoint, "tls/x");
        options.Tls.CaFile = otherCa.CaFile;
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(options));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains("not signed by a CA", e.Message, StringComparison.Ordinal);
        Assert.Contains(otherCa.CaFile, e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < Deadline, $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Plain_http_against_the_TLS_port_fails_at_CreateAsync_saying_the_endpoint_serves_HTTPS()
    {
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { tls.Server.Endpoint } }));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains("serves HTTPS", e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < Deadline, $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Https_against_a_plain_http_port_fails_at_CreateAsync_as_Unavailable_naming_TLS()
    {
        var plain = await ConsulServer.Shared;
        var options = Options("https://" + plain.Endpoint, "tls/x");
        options.RequestTimeout = TimeSpan.FromSeconds(3);
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(options));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.Contains("TLS with " + plain.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.Contains("HTTPS", e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < Deadline, $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Without_a_client_certificate_the_agent_refuses_and_CreateAsync_fails_with_InvalidConfiguration_saying_so()
    {
        var options = Options("https://" + tls.Server.Endpoint, "tls/x");
        options.Tls.CertificateFile = null;
        options.Tls.KeyFile = null;
        options.RequestTimeout = TimeSpan.FromSeconds(3);
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(options));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains("refused this client's TLS certificate", e.Message, StringComparison.Ordinal);
        Assert.Contains("CertificateFile", e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < Deadline, $"took {clock.Elapsed}");
    }

    private StoreOptions Options(string endpoint, string root, bool enabled = false) => new()
    {
        Backend = "consul",
        Endpoints = { endpoint },
        Root = root,
        Tls = new TlsOptions
        {
            Enabled = enabled,
            CaFile = tls.Certificates.CaFile,
            CertificateFile = tls.Certificates.ClientCertificateFile,
            KeyFile = tls.Certificates.ClientKeyFile,
        },
    };
}
