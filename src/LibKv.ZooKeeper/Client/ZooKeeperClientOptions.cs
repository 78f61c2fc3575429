namespace LibKv.ZooKeeper.Client;

/// <summary>Settings of a <see cref="ZooKeeperClient"/>.</summary>
internal sealed class ZooKeeperClientOptions
{
    public required IReadOnlyList<(string Host, int Port)> Hosts { get; init; }

    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan ConnectionTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Authentication sent (addauth) on every connection: scheme and credentials.</summary>
    public IReadOnlyList<(string Scheme, byte[] Auth)> Auth { get; init; } = Array.Empty<(string, byte[])>();

    /// <summary>An existing session to resume (tests use it to expire a session), or 0.</summary>
    public long SessionId { get; init; }

    public byte[]? SessionPassword { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>TLS for every connection (ZooKeeper's secureClientPort), or null for plain TCP.</summary>
    public LibKv.Core.TlsSetup? Tls { get; init; }

    /// <summary>Hosts as "host:port, …" for messages.</summary>
    public string Describe() => string.Join(", ", Hosts.Select(h => $"{h.Host}:{h.Port}"));
}
