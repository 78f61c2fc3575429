using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace LibKv.Core;

/// <summary>
/// Turns <see cref="TlsOptions"/> into what .NET's TLS stack takes: the server check against <see cref="TlsOptions.CaFile"/>
/// (or the system store) and the client certificate; remembers why a server was refused so errors can say it.
/// </summary>
public sealed class TlsSetup
{
    private readonly X509Certificate2Collection? _roots;
    private string? _lastRejection;

    private TlsSetup(TlsOptions options)
    {
        Options = options;
        if (options.CaFile is { } ca)
        {
            _roots = new X509Certificate2Collection();
            try
            {
                _roots.ImportFromPemFile(ca);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw new KvException(KvErrorCode.InvalidConfiguration, $"StoreOptions.Tls.CaFile '{ca}' cannot be read as PEM certificates: {e.Message}", innerException: e);
            }

            if (_roots.Count == 0)
            {
                throw new KvException(KvErrorCode.InvalidConfiguration, $"StoreOptions.Tls.CaFile '{ca}' holds no PEM certificate.");
            }
        }

        if (options.CertificateFile is { } cert)
        {
            try
            {
                ClientCertificate = X509Certificate2.CreateFromPemFile(cert, options.KeyFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                throw new KvException(KvErrorCode.InvalidConfiguration, $"StoreOptions.Tls.CertificateFile '{cert}' with KeyFile '{options.KeyFile}' cannot be loaded as a PEM certificate and key: {e.Message}", innerException: e);
            }
        }
    }

    /// <summary>The options this setup was made from.</summary>
    public TlsOptions Options { get; }

    /// <summary>The client certificate for mutual TLS, or null.</summary>
    public X509Certificate2? ClientCertificate { get; }

    /// <summary>The TLS setup of a store, or null when it does not use TLS (not enabled and no <c>https://</c> endpoint).</summary>
    public static TlsSetup? For(StoreOptions options, IReadOnlyList<KvEndpoint> endpoints)
    {
        var tls = options.Tls ?? new TlsOptions();
        return tls.Enabled || endpoints.Any(e => e.Tls) ? new TlsSetup(tls) : null;
    }

    /// <summary>Client options for one connection to <paramref name="host"/>.</summary>
    public SslClientAuthenticationOptions ClientOptions(string host) => new()
    {
        TargetHost = host,
        RemoteCertificateValidationCallback = Validate,
        ClientCertificates = ClientCertificate is null ? null : new X509CertificateCollection { ClientCertificate },
        EnabledSslProtocols = SslProtocols.None,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
    };

    /// <summary>Checks a server certificate against the CA file (or the system store) and the host name.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (Options.InsecureSkipVerify)
        {
            return true;
        }

        if (certificate is null)
        {
            return Reject("the server sent no certificate");
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return Reject($"the server certificate '{certificate.Subject}' does not name the host that was dialled");
        }

        if (_roots is null)
        {
            return errors == SslPolicyErrors.None || Reject($"the server certificate '{certificate.Subject}' is not trusted by the system store ({errors}); set StoreOptions.Tls.CaFile");
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_roots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        using var leaf = new X509Certificate2(certificate);
        if (custom.Build(leaf))
        {
            return true;
        }

        var status = string.Join(", ", custom.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return Reject($"the server certificate '{leaf.Subject}' (issued by '{leaf.Issuer}') is not signed by a CA in '{Options.CaFile}': {status}");
    }

    /// <summary>The error of a failed TLS handshake, naming the certificate problem when the check refused the server.</summary>
    public KvException Explain(string endpoint, Exception error)
    {
        // A refused certificate is a configuration problem (wrong CA, wrong host); anything else may pass.
        var reason = Interlocked.Exchange(ref _lastRejection, null);
        return reason is not null
            ? new KvException(KvErrorCode.InvalidConfiguration, $"TLS with {endpoint} failed: {reason}.", innerException: error)
            : new KvException(KvErrorCode.Unavailable, $"TLS with {endpoint} failed: {(error.InnerException ?? error).Message}", innerException: error);
    }

    private bool Reject(string reason)
    {
        Volatile.Write(ref _lastRejection, reason);
        return false;
    }
}
