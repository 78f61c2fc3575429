using Microsoft.Extensions.Logging;

namespace LibKv;

/// <summary>How to reach a store; bindable from configuration (section "KvStore" by convention).</summary>
public sealed class StoreOptions
{
    /// <summary>The backend name: "memory" (default), "consul", "etcd" or "zookeeper", or an alias.</summary>
    public string Backend { get; set; } = "memory";

    /// <summary>Server endpoints as "host:port", tried in order; for memory, an optional data-space name.</summary>
    public List<string> Endpoints { get; set; } = new();

    /// <summary>How long to wait for a connection to an endpoint.</summary>
    public TimeSpan ConnectionTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest any one call may take before it fails with <see cref="KvErrorCode.Unavailable"/>.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A key prefix every key of the store lives under; keys given to and returned by the store never include it.</summary>
    public string? Root { get; set; }

    /// <summary>Consul ACL token.</summary>
    public string? Token { get; set; }

    /// <summary>etcd user name, or ZooKeeper digest user.</summary>
    public string? Username { get; set; }

    /// <summary>etcd password, or ZooKeeper digest password.</summary>
    public string? Password { get; set; }

    /// <summary>ZooKeeper session timeout, and the lease of keep-alive keys where a backend needs one.</summary>
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>TLS to the servers (etcd and Consul over https, ZooKeeper on its secureClientPort).</summary>
    public TlsOptions Tls { get; set; } = new();

    /// <summary>The clock; tests may pass a fake one. Not bound from configuration.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>Where the store logs; none when null. Not bound from configuration.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>A shallow copy, so a backend can fill defaults without touching the caller's instance.</summary>
    public StoreOptions Clone()
    {
        var copy = (StoreOptions)MemberwiseClone();
        copy.Endpoints = new List<string>(Endpoints);
        copy.Tls = (Tls ?? new TlsOptions()).Clone();
        return copy;
    }
}
