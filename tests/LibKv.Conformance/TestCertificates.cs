using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LibKv.Conformance;

/// <summary>
/// A throw-away CA with a server certificate (127.0.0.1, ::1, localhost) and a client certificate, written as PEM files
/// (certificates, PKCS#8 keys) into a temporary folder that is deleted on dispose. ECDSA P-256, which etcd, Consul and ZooKeeper all take.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private TestCertificates(string directory) => Directory = directory;

    /// <summary>The folder holding the files.</summary>
    public string Directory { get; }

    /// <summary>The CA certificate.</summary>
    public string CaFile => Path.Combine(Directory, "ca.pem");

    /// <summary>The server certificate, signed by the CA.</summary>
    public string ServerCertificateFile => Path.Combine(Directory, "server.pem");

    /// <summary>The server key.</summary>
    public string ServerKeyFile => Path.Combine(Directory, "server-key.pem");

    /// <summary>The client certificate, signed by the CA.</summary>
    public string ClientCertificateFile => Path.Combine(Directory, "client.pem");

    /// <summary>The client key.</summary>
    public string ClientKeyFile => Path.Combine(Directory, "client-key.pem");

    /// <summary>Makes a new CA and its certificates, valid from an hour ago for a day.</summary>
    public static TestCertificates Create(string caName = "LibKv test CA")
    {
        var dir = Path.Combine(Path.GetTempPath(), "libkv-tls-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(dir);
        var certs = new TestCertificates(dir);
        var notBefore = DateTimeOffset.UtcNow.AddHours(-1);
        var notAfter = DateTimeOffset.UtcNow.AddDays(1);

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN={caName}", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(notBefore, notAfter);
        File.WriteAllText(certs.CaFile, ca.ExportCertificatePem());

        Issue(ca, "CN=localhost", serverAuth: true, notBefore, notAfter, certs.ServerCertificateFile, certs.ServerKeyFile);
        Issue(ca, "CN=libkv-client", serverAuth: false, notBefore, notAfter, certs.ClientCertificateFile, certs.ClientKeyFile);
        return certs;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static void Issue(X509Certificate2 ca, string subject, bool serverAuth, DateTimeOffset notBefore, DateTimeOffset notAfter, string certFile, string keyFile)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));

        // The server certificate serves as a client one too: etcd's JSON gateway dials etcd's own gRPC port with it.
        var usages = new OidCollection { new("1.3.6.1.5.5.7.3.2") };
        if (serverAuth)
        {
            usages.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        if (serverAuth)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(System.Net.IPAddress.Loopback);
            names.AddIpAddress(System.Net.IPAddress.IPv6Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        var serial = new byte[12];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        using var cert = request.Create(ca, notBefore, notAfter, serial);
        File.WriteAllText(certFile, cert.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
    }
}
