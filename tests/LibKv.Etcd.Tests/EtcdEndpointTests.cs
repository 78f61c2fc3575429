using System.Net;
using System.Text;
using Xunit;

namespace LibKv.Etcd.Tests;

/// <summary>Endpoint forms, and a store pointed at something that is not etcd.</summary>
public sealed class EtcdEndpointTests : IClassFixture<EtcdFixture>
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task A_comma_separated_entry_and_http_urls_work_like_separate_entries()
    {
        var server = await EtcdFixture.SharedServerAsync();
        var down = $"127.0.0.1:{EtcdServer.FreePort()}";
        foreach (var endpoints in new[] { new[] { $"{down},{server.Endpoint}" }, new[] { $" http://{down} , http://{server.Endpoint}/ " }, new[] { down, $"http://{server.Endpoint}" } })
        {
            var options = new StoreOptions { Root = "t/" + Guid.NewGuid().ToString("N"), RequestTimeout = TimeSpan.FromSeconds(5) };
            options.Endpoints.AddRange(endpoints);
            await using var store = await StoreFactory.Default.CreateAsync("etcd", options);
            await store.PutAsync("k", Bytes("v"));
            Assert.Equal("v", Encoding.UTF8.GetString((await store.GetAsync("k")).Value));
        }
    }

    [Theory]
    [InlineData("127.0.0.1:1:2")]
    [InlineData("tcp://127.0.0.1:2379")]
    [InlineData("127.0.0.1:2379/path")]
    [InlineData("127.0.0.1:99999")]
    [InlineData("127.0.0.1")]
    public async Task A_malformed_endpoint_is_InvalidConfiguration_naming_it(string endpoint)
    {
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { "127.0.0.1:2379," + endpoint } }));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains(endpoint, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_https_entry_in_a_comma_separated_list_is_NotSupported_naming_it()
    {
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { "127.0.0.1:2379,https://127.0.0.1:2380" } }));
        Assert.Equal(KvErrorCode.NotSupported, e.Code);
        Assert.Contains("https://127.0.0.1:2380", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls_enabled_in_the_options_is_NotSupported_rather_than_plaintext()
    {
        var server = await EtcdFixture.SharedServerAsync();
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { server.Endpoint }, Tls = { Enabled = true } }));
        Assert.Equal(KvErrorCode.NotSupported, e.Code);
        Assert.Contains("Tls", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateAsync_against_a_plain_HTTP_server_is_InvalidConfiguration_naming_it()
    {
        var port = EtcdServer.FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        using var stop = new CancellationTokenSource();
        var serving = ServeAsync(listener, stop.Token);
        try
        {
            var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { $"127.0.0.1:{port}" }, RequestTimeout = TimeSpan.FromSeconds(3) }));
            Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
            Assert.Contains("HTTP/1.1 server", e.Message, StringComparison.Ordinal);
            Assert.Contains($"127.0.0.1:{port}", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            stop.Cancel();
            listener.Stop();
            await serving;
        }
    }

    [Fact]
    public async Task CreateAsync_against_a_ZooKeeper_port_is_InvalidConfiguration_naming_ZooKeeper()
    {
        await using var zk = await ZooKeeperServer.StartAsync();
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { zk.Endpoint }, RequestTimeout = TimeSpan.FromSeconds(3) }));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains("ZooKeeper", e.Message, StringComparison.Ordinal);
        Assert.Contains(zk.Endpoint, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateAsync_against_a_Consul_agent_is_InvalidConfiguration_naming_Consul()
    {
        await using var consul = await ConsulAgent.StartAsync();
        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { consul.Endpoint }, RequestTimeout = TimeSpan.FromSeconds(3) }));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains("Consul agent", e.Message, StringComparison.Ordinal);
        Assert.Contains(consul.Endpoint, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_server_before_etcd_in_the_list_is_skipped()
    {
        var server = await EtcdFixture.SharedServerAsync();
        var port = EtcdServer.FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        using var stop = new CancellationTokenSource();
        var serving = ServeAsync(listener, stop.Token);
        try
        {
            await using var store = await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { $"127.0.0.1:{port}", server.Endpoint }, Root = "t/" + Guid.NewGuid().ToString("N") });
            await store.PutAsync("k", Bytes("v"));
        }
        finally
        {
            stop.Cancel();
            listener.Stop();
            await serving;
        }
    }

    private static async Task ServeAsync(HttpListener listener, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync().WaitAsync(stop);
            }
            catch (Exception e) when (e is OperationCanceledException or HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            var body = Encoding.UTF8.GetBytes("hello");
            context.Response.StatusCode = 200;
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body, stop);
            context.Response.Close();
        }
    }
}
