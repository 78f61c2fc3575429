namespace LibKv;

/// <summary>TLS to the servers: the CA that signs them, and a client certificate for mutual TLS; an <c>https://</c> endpoint turns it on.</summary>
/// <code>
/// new StoreOptions { Endpoints = { "https://127.0.0.1:2379" }, Tls = { CaFile = "ca.pem", CertificateFile = "client.pem", KeyFile = "client-key.pem" } };
/// </code>
public sealed class TlsOptions
{
    /// <summary>Use TLS on every endpoint (also on when an endpoint is <c>https://</c>).</summary>
    public bool Enabled { get; set; }

    /// <summary>PEM file of the CA certificates that sign the servers; the system store when null.</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM file of the client certificate for mutual TLS; with <see cref="KeyFile"/>.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM file of the client certificate's private key (PKCS#8 or PKCS#1); with <see cref="CertificateFile"/>.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Accept any server certificate (tests only: it defeats TLS's protection against impostors).</summary>
    public bool InsecureSkipVerify { get; set; }

    /// <summary>A copy.</summary>
    public TlsOptions Clone() => (TlsOptions)MemberwiseClone();
}
