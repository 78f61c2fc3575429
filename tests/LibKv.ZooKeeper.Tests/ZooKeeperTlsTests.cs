using System.Text;
using LibKv.Conformance;
using Xunit;

namespace LibKv.ZooKeeper.Tests;

/// <summary>A ZooKeeper server with a plain clientPort and a mutual-TLS secureClientPort, with throw-away certificates.</summary>
public sealed class ZooKeeperTlsServer : IAsyncLifetime
{
    public TestCertificates Certificates { get; } = TestCertificates.Create();

    public ZooKeeperServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await ZooKeeperServer.StartAsync(tls: Certificates);

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Certificates.Dispose();
    }
}

/// <summary>TLS on ZooKeeper's secureClientPort: every operation over it, and clear failures for wrong set-ups.</summary>
public sealed class ZooKeeperTlsTests(ZooKeeperTlsServer tls) : IClassFixture<ZooKeeperTlsServer>
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(byte[] value) => Encoding.UTF8.GetString(value);

    private StoreOptions Options(string endpoint, string root, TestCertificates? ca = null, bool clientCertificate = true) => new()
    {
        Backend = "zk",
        Endpoints = { endpoint },
        Root = root,
        ConnectionTimeout = TimeSpan.FromSeconds(4),
        Tls = new TlsOptions
        {
            CaFile = (ca ?? tls.Certificates).CaFile,
            CertificateFile = clientCertificate ? tls.Certificates.ClientCertificateFile : null,
            KeyFile = clientCertificate ? tls.Certificates.ClientKeyFile : null,
        },
    };

    private static string NewRoot() => "tls/" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task Basic_ops_a_watch_a_lock_and_a_keep_alive_key_work_over_tls()
    {
        var root = NewRoot();
        await using var store = await StoreFactory.Default.CreateAsync(Options($"https://127.0.0.1:{tls.Server.SecurePort}", root));
        var enabled = Options($"127.0.0.1:{tls.Server.SecurePort}", root);
        enabled.Tls!.Enabled = true;
        await using var other = await StoreFactory.Default.CreateAsync(enabled);

        using var recorder = new Recorder<KVPair?>(other.Watch("w"));
        await store.PutAsync("a/b", Bytes("1"));
        Assert.Equal("1", Text((await other.GetAsync("a/b")).Value));
        var pair = await store.AtomicPutAsync("a/b", Bytes("2"), await store.GetAsync("a/b"));
        Assert.Equal("a/b", Assert.Single(await other.ListAsync("a")).Key);
        await store.AtomicDeleteAsync("a/b", pair);
        Assert.False(await other.ExistsAsync("a/b"));

        await store.PutAsync("w", Bytes("seen"));
        await recorder.WaitForLast(p => p is not null && Text(p.Value) == "seen", "the watch to deliver the write made over TLS");

        await using var locker = store.NewLock("job");
        await locker.LockAsync();
        await using var rival = other.NewLock("job");
        Assert.False(await rival.TryLockAsync(TimeSpan.FromMilliseconds(300)));
        await store.PutAsync("fenced", Bytes("x"), new WriteOptions { IfHeld = locker });
        await locker.UnlockAsync();
        Assert.True(await rival.TryLockAsync(TimeSpan.FromSeconds(30)));

        await store.PutAsync("alive", Bytes("here"), new WriteOptions { Ttl = TimeSpan.FromSeconds(5), KeepAlive = true });
        Assert.Equal("here", Text((await other.GetAsync("alive")).Value));
        await store.DisposeAsync();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await other.ExistsAsync("alive"))
        {
            Assert.True(DateTime.UtcNow < until, "the keep-alive key to go with its store");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_server_certificate_of_another_CA_fails_at_CreateAsync_with_InvalidConfiguration_naming_it()
    {
        using var stranger = TestCertificates.Create("Some other CA");
        var e = await Assert.ThrowsAsync<KvException>(async () =>
            await StoreFactory.Default.CreateAsync(Options($"https://127.0.0.1:{tls.Server.SecurePort}", NewRoot(), ca: stranger)));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains("server certificate", e.Message, StringComparison.Ordinal);
        Assert.Contains(stranger.CaFile, e.Message, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{tls.Server.SecurePort}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls_against_the_plain_port_fails_Unavailable_within_the_connection_timeout_saying_so()
    {
        var e = await Assert.ThrowsAsync<KvException>(async () =>
            await StoreFactory.Default.CreateAsync(Options($"https://127.0.0.1:{tls.Server.Port}", NewRoot())));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.Contains("secureClientPort", e.Message, StringComparison.Ordinal);
        Assert.Contains("4000 ms", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plain_tcp_against_the_tls_port_fails_Unavailable_within_the_connection_timeout_saying_so()
    {
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(new StoreOptions
        {
            Backend = "zk",
            Endpoints = { $"127.0.0.1:{tls.Server.SecurePort}" },
            ConnectionTimeout = TimeSpan.FromSeconds(4),
        }));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.Contains("TLS-only secureClientPort", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_client_certificate_the_server_refuses_and_the_error_says_tls_failed()
    {
        var e = await Assert.ThrowsAsync<KvException>(async () =>
            await StoreFactory.Default.CreateAsync(Options($"https://127.0.0.1:{tls.Server.SecurePort}", NewRoot(), clientCertificate: false)));
        Assert.Equal(KvErrorCode.Unavailable, e.Code);
        Assert.Contains("TLS with 127.0.0.1", e.Message, StringComparison.Ordinal);
    }
}
