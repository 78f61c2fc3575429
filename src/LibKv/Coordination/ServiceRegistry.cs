using System.Reactive.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LibKv.Coordination;

/// <summary>One instance of a service: where to reach it and what it says of itself.</summary>
/// <param name="Service">The service name (one key segment).</param>
/// <param name="Id">The instance id, unique within the service (one key segment).</param>
/// <param name="Address">Where to reach it, for example "10.0.0.7:8080".</param>
/// <param name="Metadata">Free-form tags.</param>
public sealed record ServiceInstance(string Service, string Id, string Address, IReadOnlyDictionary<string, string>? Metadata = null);

/// <summary>Options of a <see cref="ServiceRegistry"/>.</summary>
public sealed class ServiceRegistryOptions
{
    /// <summary>Instances live at <c>{Prefix}/{Service}/{Id}</c>.</summary>
    public string Prefix { get; init; } = "services";

    /// <summary>The TTL of a registration: a dead instance disappears within 2 × Ttl + 1 s.</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Service registration and discovery on any store: an instance is a keep-alive key of JSON that comes back after a
/// lost session until its handle is disposed.
/// </summary>
/// <code>
/// var registry = new ServiceRegistry(store);
/// await using var registration = await registry.RegisterAsync(new ServiceInstance("web", "web-1", "10.0.0.7:8080"));
/// var instances = await registry.ResolveAsync("web");
/// </code>
public sealed class ServiceRegistry
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    private readonly IStore _store;
    private readonly ServiceRegistryOptions _options;
    private readonly string _prefix;

    /// <summary>A registry on <paramref name="store"/>.</summary>
    public ServiceRegistry(IStore store, ServiceRegistryOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _options = options ?? new ServiceRegistryOptions();
        if (_options.Ttl <= TimeSpan.Zero)
        {
            throw new ArgumentException("ServiceRegistryOptions.Ttl must be positive.", nameof(options));
        }

        _prefix = KeyPath.Normalize(_options.Prefix, nameof(ServiceRegistryOptions.Prefix));
    }

    /// <summary>Registers <paramref name="instance"/> until the returned handle is disposed (which removes it at once).</summary>
    public async ValueTask<IAsyncDisposable> RegisterAsync(ServiceInstance instance, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(instance);
        var key = KeyOf(instance.Service, instance.Id);
        ArgumentException.ThrowIfNullOrWhiteSpace(instance.Address, nameof(instance));
        var json = JsonSerializer.SerializeToUtf8Bytes(new Entry(instance.Service, instance.Id, instance.Address, instance.Metadata ?? new Dictionary<string, string>()), s_json);
        await _store.PutAsync(key, json, new WriteOptions { Ttl = _options.Ttl, KeepAlive = true }, cancellationToken).ConfigureAwait(false);
        return new Registration(_store, key);
    }

    /// <summary>The live instances of <paramref name="service"/>, sorted by Id; empty when none.</summary>
    public async ValueTask<IReadOnlyList<ServiceInstance>> ResolveAsync(string service, CancellationToken cancellationToken = default)
    {
        var directory = DirectoryOf(service);
        try
        {
            return Parse(directory, await _store.ListAsync(directory, cancellationToken: cancellationToken).ConfigureAwait(false));
        }
        catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound)
        {
            return Array.Empty<ServiceInstance>();
        }
    }

    /// <summary>The instances of <paramref name="service"/> now, then after every change.</summary>
    public IObservable<IReadOnlyList<ServiceInstance>> Watch(string service)
    {
        var directory = DirectoryOf(service);
        return _store.WatchTree(directory).Select(list => Parse(directory, list)).DistinctUntilChanged(SameInstances.Instance);
    }

    private static IReadOnlyList<ServiceInstance> Parse(string directory, IReadOnlyList<KVPair> pairs)
    {
        var result = new List<ServiceInstance>(pairs.Count);
        foreach (var pair in pairs)
        {
            // Only {Prefix}/{Service}/{Id}: a deeper key is not an instance.
            if (pair.Key.IndexOf('/', directory.Length + 1) >= 0)
            {
                continue;
            }

            try
            {
                if (JsonSerializer.Deserialize<Entry>(pair.Value, s_json) is { Service: { Length: > 0 } s, Id: { Length: > 0 } id, Address: { Length: > 0 } address } entry)
                {
                    result.Add(new ServiceInstance(s, id, address, entry.Metadata ?? new Dictionary<string, string>()));
                }
            }
            catch (JsonException)
            {
                // Not an instance: skipped, as the contract says.
            }
        }

        result.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        return result;
    }

    private string DirectoryOf(string service)
    {
        CheckSegment(service, nameof(service));
        return _prefix + "/" + service;
    }

    private string KeyOf(string service, string id)
    {
        CheckSegment(id, nameof(ServiceInstance.Id));
        return DirectoryOf(service) + "/" + id;
    }

    private static void CheckSegment(string value, string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value, name);
        if (value.Contains('/', StringComparison.Ordinal) || value is "." or "..")
        {
            throw new ArgumentException($"'{value}' must be one key segment (no '/').", name);
        }

        KeyPath.Normalize(value, name);
    }

    private sealed record Entry(string Service, string Id, string Address, IReadOnlyDictionary<string, string>? Metadata);

    private sealed class Registration(IStore store, string key) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            try
            {
                await store.DeleteAsync(key).ConfigureAwait(false);
            }
            catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound)
            {
            }
            catch (ObjectDisposedException)
            {
                // The store went first; its keep-alive keys went with it.
            }
        }
    }

    private sealed class SameInstances : IEqualityComparer<IReadOnlyList<ServiceInstance>>
    {
        public static readonly SameInstances Instance = new();

        public bool Equals(IReadOnlyList<ServiceInstance>? x, IReadOnlyList<ServiceInstance>? y) =>
            x is not null && y is not null && x.Count == y.Count && x.Zip(y).All(p => Same(p.First, p.Second));

        public int GetHashCode(IReadOnlyList<ServiceInstance> obj) => obj.Count;

        private static bool Same(ServiceInstance a, ServiceInstance b) =>
            a.Service == b.Service && a.Id == b.Id && a.Address == b.Address
            && (a.Metadata ?? new Dictionary<string, string>()).OrderBy(k => k.Key, StringComparer.Ordinal)
                .SequenceEqual((b.Metadata ?? new Dictionary<string, string>()).OrderBy(k => k.Key, StringComparer.Ordinal));
    }
}
