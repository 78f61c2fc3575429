using System.Collections.Concurrent;
using System.Reflection;
using LibKv.Memory;

namespace LibKv;

/// <summary>Creates stores by backend name; backends in referenced LibKv.* assemblies register themselves.</summary>
/// <code>
/// await using var store = await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { "127.0.0.1:2379" } });
/// </code>
public sealed class StoreFactory
{
    private static readonly (string Name, string Package)[] s_knownPackages =
    {
        ("consul", "LibKv.Consul"),
        ("etcd", "LibKv.Etcd"),
        ("zookeeper", "LibKv.ZooKeeper"),
    };

    private static readonly Lazy<StoreFactory> s_default = new(CreateDefault);

    private readonly ConcurrentDictionary<string, Func<StoreOptions, CancellationToken, ValueTask<IStore>>> _backends = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, string> _aliases = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The factory that knows <c>memory</c> (alias <c>mock</c>) and every backend whose assembly is referenced.</summary>
    public static StoreFactory Default => s_default.Value;

    /// <summary>
    /// A factory that knows <c>memory</c> and exactly <paramref name="backends"/> (no assembly loaded by name, so trimming
    /// keeps what the app uses); <see cref="Default"/> when none is given.
    /// </summary>
    public static StoreFactory From(IEnumerable<IKvBackendRegistration> backends)
    {
        ArgumentNullException.ThrowIfNull(backends);
        var list = backends.ToList();
        if (list.Count == 0)
        {
            return Default;
        }

        var factory = WithMemory();
        foreach (var backend in list)
        {
            backend.Register(factory);
        }

        return factory;
    }

    /// <summary>The canonical backend names this factory can create (aliases excluded).</summary>
    public IReadOnlyCollection<string> Backends => _backends.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>Alias names and the backend each stands for.</summary>
    public IReadOnlyDictionary<string, string> Aliases => new Dictionary<string, string>(_aliases, StringComparer.OrdinalIgnoreCase);

    /// <summary>Registers (or replaces) a backend under <paramref name="name"/>.</summary>
    public StoreFactory Register(string name, Func<StoreOptions, CancellationToken, ValueTask<IStore>> create)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(create);
        _backends[name] = create;
        return this;
    }

    /// <summary>Makes <paramref name="alias"/> another name of <paramref name="backend"/>.</summary>
    public StoreFactory RegisterAlias(string alias, string backend)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(alias);
        ArgumentException.ThrowIfNullOrWhiteSpace(backend);
        _aliases[alias] = backend;
        return this;
    }

    /// <summary>True when <paramref name="name"/> is a registered backend or alias.</summary>
    public bool IsKnown(string name) => TryResolve(name, out _, out _);

    /// <summary>Creates a store of <paramref name="backend"/> and checks that its server answers; Unavailable when it does not.</summary>
    public async ValueTask<IStore> CreateAsync(string backend, StoreOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        if (!TryResolve(backend, out var canonical, out var create))
        {
            var known = string.Join(", ", _backends.Keys.Concat(_aliases.Keys).Order(StringComparer.Ordinal));
            throw new KvException(KvErrorCode.UnknownBackend, $"Unknown backend '{backend}'. Known: {known}. {PackageHint(backend)}".TrimEnd());
        }

        var copy = options.Clone();
        copy.Backend = canonical;
        var errors = StoreOptionsValidator.Check(copy, this);
        if (errors.Count > 0)
        {
            throw new KvException(KvErrorCode.InvalidConfiguration, "Invalid store options: " + string.Join(" ", errors));
        }

        return await create(copy, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates a store of <see cref="StoreOptions.Backend"/>.</summary>
    public ValueTask<IStore> CreateAsync(StoreOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return CreateAsync(options.Backend, options, cancellationToken);
    }

    internal static bool IsMemoryName(string? name) =>
        string.Equals(name, MemoryStore.BackendName, StringComparison.OrdinalIgnoreCase) || string.Equals(name, "mock", StringComparison.OrdinalIgnoreCase);

    internal static string PackageHint(string name)
    {
        var normalized = string.Equals(name, "zk", StringComparison.OrdinalIgnoreCase) ? "zookeeper" : name;
        foreach (var (known, package) in s_knownPackages)
        {
            if (string.Equals(known, normalized, StringComparison.OrdinalIgnoreCase))
            {
                return $"Reference the {package} package to use it.";
            }
        }

        return "Backends ship as the packages " + string.Join(", ", s_knownPackages.Select(p => p.Package)) + ".";
    }

    private bool TryResolve(string name, out string canonical, out Func<StoreOptions, CancellationToken, ValueTask<IStore>> create)
    {
        var target = _aliases.TryGetValue(name, out var aliased) ? aliased : name;
        canonical = target;
        if (_backends.TryGetValue(target, out create!))
        {
            canonical = _backends.Keys.First(k => string.Equals(k, target, StringComparison.OrdinalIgnoreCase));
            return true;
        }

        return false;
    }

    private static StoreFactory WithMemory()
    {
        var factory = new StoreFactory();
        factory.Register(MemoryStore.BackendName, static (options, _) => ValueTask.FromResult<IStore>(new MemoryStore(options)));
        factory.RegisterAlias("mock", MemoryStore.BackendName);
        return factory;
    }

    private static StoreFactory CreateDefault()
    {
        var factory = WithMemory();
        foreach (var (_, package) in s_knownPackages)
        {
            Assembly assembly;
            try
            {
                assembly = Assembly.Load(new AssemblyName(package));
            }
            catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
            {
                continue;
            }

            foreach (var attribute in assembly.GetCustomAttributes<KvBackendAttribute>())
            {
                var registration = (IKvBackendRegistration)Activator.CreateInstance(attribute.RegistrationType)!;
                registration.Register(factory);
            }
        }

        return factory;
    }
}

/// <summary>Implemented by a backend assembly to add itself to <see cref="StoreFactory.Default"/>.</summary>
public interface IKvBackendRegistration
{
    /// <summary>Registers the backend's names on <paramref name="factory"/>.</summary>
    void Register(StoreFactory factory);
}

/// <summary>Names the <see cref="IKvBackendRegistration"/> of a backend assembly.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class KvBackendAttribute : Attribute
{
    /// <summary>Names the registration type, which needs a public parameterless constructor.</summary>
    public KvBackendAttribute(Type registrationType) => RegistrationType = registrationType;

    /// <summary>The registration type.</summary>
    public Type RegistrationType { get; }
}
