using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>Issue 8 items 6 and 7: every endpoint form, and a clear answer when what answers is not Consul.</summary>
public sealed class ConsulEndpointTests
{
    [Fact]
    public async Task CreateAsync_at_an_etcd_port_is_InvalidConfiguration_naming_etcd()
    {
        await using var etcd = await EtcdProcess.StartAsync();

        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { etcd.Endpoint }, RequestTimeout = TimeSpan.FromSeconds(5) }));

        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains(etcd.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.Contains("etcd", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateAsync_at_a_plain_http_server_is_InvalidConfiguration_naming_what_answered()
    {
        using var http = new PlainHttpServer();

        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { http.Endpoint }, RequestTimeout = TimeSpan.FromSeconds(5) }));

        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains(http.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.Contains("plain-test-server", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateAsync_at_a_server_answering_a_leader_without_consul_headers_is_InvalidConfiguration()
    {
        using var http = new PlainHttpServer(body: "\"127.0.0.1:8300\"");

        var e = await Assert.ThrowsAsync<KvException>(async () => await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { http.Endpoint }, RequestTimeout = TimeSpan.FromSeconds(5) }));

        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains("GET /v1/kv/", e.Message, StringComparison.Ordinal);
        Assert.Contains("plain-test-server", e.Message, StringComparison.Ordinal);
    }

    /// <summary>An HTTP/1.1 server on a TcpListener that answers every request 200 with one body.</summary>
    private sealed class PlainHttpServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _cts = new();
        private readonly string _body;

        public PlainHttpServer(string body = "<html>hello</html>")
        {
            _body = body;
            _listener.Start();
            _ = AcceptAsync();
        }

        public string Endpoint => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public void Dispose()
        {
            _cts.Cancel();
            _listener.Stop();
        }

        private async Task AcceptAsync()
        {
            while (!_cts.IsCancellationRequested)
            {
                try
                {
                    var client = await _listener.AcceptTcpClientAsync(_cts.Token);
                    _ = ServeAsync(client);
                }
                catch (Exception)
                {
                    return;
                }
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                var stream = client.GetStream();
                var buffer = new byte[8192];
                var seen = new StringBuilder();
                try
                {
                    while (true)
                    {
                        var read = await stream.ReadAsync(buffer, _cts.Token);
                        if (read == 0)
                        {
                            return;
                        }

                        seen.Append(Encoding.ASCII.GetString(buffer, 0, read));
                        var text = seen.ToString();
                        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                        if (end < 0)
                        {
                            continue;
                        }

                        seen.Remove(0, end + 4);
                        var body = Encoding.UTF8.GetBytes(_body);
                        var head = $"HTTP/1.1 200 OK\r\nServer: plain-test-server\r\nContent-Type: text/html\r\nContent-Length: {body.Length}\r\n\r\n";
                        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), _cts.Token);
                        await stream.WriteAsync(body, _cts.Token);
                    }
                }
                catch (Exception)
                {
                }
            }
        }
    }
}
