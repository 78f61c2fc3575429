using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using LibKv.Conformance;
using LibKv.Core;
using Xunit;

namespace LibKv.Tests;

/// <summary>The shared TLS setup against an in-process TLS server with throw-away certificates.</summary>
public sealed class TlsSetupTests : IDisposable
{
    private readonly TestCertificates _certs = TestCertificates.Create();

    [Fact]
    public async Task The_right_CA_and_a_client_certificate_pass_mutual_TLS()
    {
        var setup = Setup(new TlsOptions { CaFile = _certs.CaFile, CertificateFile = _certs.ClientCertificateFile, KeyFile = _certs.ClientKeyFile });
        var seenClient = await HandshakeAsync(setup, requireClientCertificate: true);
        Assert.Equal("CN=libkv-client", seenClient);
    }

    [Fact]
    public async Task A_wrong_CA_is_refused_and_the_error_names_the_certificate_problem()
    {
        using var other = TestCertificates.Create("Some other CA");
        var setup = Setup(new TlsOptions { CaFile = other.CaFile });
        var e = await Assert.ThrowsAnyAsync<Exception>(() => HandshakeAsync(setup, requireClientCertificate: false));
        var explained = setup.Explain("127.0.0.1:1", e);
        Assert.Equal(KvErrorCode.InvalidConfiguration, explained.Code);
        Assert.Contains("is not signed by a CA in", explained.Message);
        Assert.Contains(other.CaFile, explained.Message);
    }

    [Fact]
    public async Task InsecureSkipVerify_accepts_any_server()
    {
        using var other = TestCertificates.Create("Some other CA");
        var setup = Setup(new TlsOptions { CaFile = other.CaFile, InsecureSkipVerify = true });
        await HandshakeAsync(setup, requireClientCertificate: false);
    }

    [Fact]
    public void Tls_is_on_when_enabled_or_an_endpoint_is_https()
    {
        Assert.Null(TlsSetup.For(new StoreOptions(), Endpoint.ParseAll(["127.0.0.1:1"], "x:1")));
        Assert.NotNull(TlsSetup.For(new StoreOptions(), Endpoint.ParseAll(["https://127.0.0.1:1"], "x:1")));
        Assert.NotNull(TlsSetup.For(new StoreOptions { Tls = { Enabled = true } }, Endpoint.ParseAll(["127.0.0.1:1"], "x:1")));
    }

    [Fact]
    public void Unreadable_files_are_InvalidConfiguration_naming_them()
    {
        var notPem = Path.Combine(_certs.Directory, "not.pem");
        File.WriteAllText(notPem, "hello");
        var e = Assert.Throws<KvException>(() => Setup(new TlsOptions { CaFile = notPem }));
        Assert.Equal(KvErrorCode.InvalidConfiguration, e.Code);
        Assert.Contains(notPem, e.Message);

        var errors = StoreOptionsValidator.Check(
            new StoreOptions { Backend = "net", Tls = { CaFile = "/nowhere/ca.pem", CertificateFile = _certs.ClientCertificateFile } },
            new StoreFactory().Register("net", (o, _) => throw new InvalidOperationException()));
        Assert.Contains(errors, m => m.Contains("'/nowhere/ca.pem' does not exist", StringComparison.Ordinal));
        Assert.Contains(errors, m => m.Contains("go together", StringComparison.Ordinal));
    }

    public void Dispose() => _certs.Dispose();

    private static TlsSetup Setup(TlsOptions tls) => TlsSetup.For(new StoreOptions { Tls = { Enabled = true, CaFile = tls.CaFile, CertificateFile = tls.CertificateFile, KeyFile = tls.KeyFile, InsecureSkipVerify = tls.InsecureSkipVerify } }, [])!;

    /// <summary>Runs one handshake against a TLS server on loopback; returns the client certificate's subject the server saw.</summary>
    private async Task<string?> HandshakeAsync(TlsSetup setup, bool requireClientCertificate)
    {
        using var serverCert = X509Certificate2.CreateFromPemFile(_certs.ServerCertificateFile, _certs.ServerKeyFile);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var server = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync(cts.Token);
            await using var ssl = new SslStream(socket.GetStream());
            try
            {
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = serverCert,
                    ClientCertificateRequired = requireClientCertificate,
                    RemoteCertificateValidationCallback = (_, c, _, _) => !requireClientCertificate || c is not null,
                }, cts.Token);
                return ssl.RemoteCertificate?.Subject;
            }
            catch (Exception)
            {
                return null;
            }
        });

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, cts.Token);
        await using var stream = new SslStream(client.GetStream());
        await stream.AuthenticateAsClientAsync(setup.ClientOptions("127.0.0.1"), cts.Token);
        return await server;
    }
}
