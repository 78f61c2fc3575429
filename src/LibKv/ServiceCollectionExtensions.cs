using LibKv;
using LibKv.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers stores built from <see cref="StoreOptions"/>: the default one, or named ones as keyed services.</summary>
/// <code>
/// services.AddKvStore(configuration.GetSection("KvStore")).AddEtcd();
/// services.AddKvStore("orders", o => o.Backend = "memory");   // inject with [FromKeyedServices("orders")] IStore
/// services.AddHealthChecks().AddKvStore();
/// </code>
public static class KvServiceCollectionExtensions
{
    /// <summary>Binds <see cref="StoreOptions"/> to <paramref name="configuration"/>, validates them at start and registers <see cref="IStore"/>.</summary>
    public static KvStoreBuilder AddKvStore(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddKvStore(null, builder => builder.Configure(options => StoreOptionsBinder.Bind(configuration, options)));
    }

    /// <summary>Configures <see cref="StoreOptions"/> in code, validates them at start and registers <see cref="IStore"/>.</summary>
    public static KvStoreBuilder AddKvStore(this IServiceCollection services, Action<StoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return services.AddKvStore(null, builder => builder.Configure(configure));
    }

    /// <summary>Registers a second (third…) store as the keyed service <paramref name="name"/>, bound to <paramref name="configuration"/>.</summary>
    public static KvStoreBuilder AddKvStore(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddKvStore(name, builder => builder.Configure(options => StoreOptionsBinder.Bind(configuration, options)));
    }

    /// <summary>Registers a second (third…) store as the keyed service <paramref name="name"/>, configured in code.</summary>
    public static KvStoreBuilder AddKvStore(this IServiceCollection services, string name, Action<StoreOptions> configure)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        return services.AddKvStore(name, builder => builder.Configure(configure));
    }

    /// <summary>Checks a registered store: healthy when it answers within its timeout, degraded while suspended, unhealthy when unreachable.</summary>
    public static IHealthChecksBuilder AddKvStore(this IHealthChecksBuilder builder, string? storeName = null, string? checkName = null, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(
            checkName ?? (storeName is null ? "kvstore" : "kvstore-" + storeName),
            sp => new KvStoreHealthCheck(sp.GetRequiredKeyedService<DeferredStore>(KvStoreKeys.Of(storeName))),
            failureStatus,
            tags));
    }

    private static KvStoreBuilder AddKvStore(this IServiceCollection services, string? name, Action<OptionsBuilder<StoreOptions>> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var key = KvStoreKeys.Of(name);
        if (services.Any(d => d.ServiceType == typeof(KvStoreRegistration) && d.ImplementationInstance is KvStoreRegistration r && r.Name == name))
        {
            throw new InvalidOperationException(name is null
                ? "AddKvStore was already called for the default store; register another store with AddKvStore(name, ...) instead of merging options into the first."
                : $"AddKvStore was already called for the store '{name}'.");
        }

        var registration = new KvStoreRegistration(name);
        services.AddSingleton(registration);
        var builder = services.AddOptions<StoreOptions>(registration.OptionsName);
        configure(builder);
        builder.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StoreOptions>, StoreOptionsValidator>());
        services.TryAddSingleton(sp => StoreFactory.From(sp.GetServices<IKvBackendRegistration>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, KvStoreConnector>());
        services.AddKeyedSingleton(key, (sp, _) =>
        {
            var options = sp.GetRequiredService<IOptionsMonitor<StoreOptions>>().Get(registration.OptionsName).Clone();
            options.TimeProvider ??= sp.GetService<TimeProvider>();
            options.LoggerFactory ??= sp.GetService<ILoggerFactory>();
            var factory = sp.GetRequiredService<StoreFactory>();
            return new DeferredStore(options.Backend, ct => factory.CreateAsync(options, ct));
        });
        if (name is null)
        {
            services.AddSingleton<IStore>(sp => sp.GetRequiredKeyedService<DeferredStore>(key));
        }
        else
        {
            services.AddKeyedSingleton<IStore>(name, (sp, _) => sp.GetRequiredKeyedService<DeferredStore>(key));
        }

        return new KvStoreBuilder(services, registration);
    }
}

/// <summary>What <c>AddKvStore</c> returns: name the backends the app uses and how the store connects.</summary>
public sealed class KvStoreBuilder
{
    private readonly KvStoreRegistration _registration;

    internal KvStoreBuilder(IServiceCollection services, KvStoreRegistration registration)
    {
        Services = services;
        _registration = registration;
    }

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The store's name, or null for the default store.</summary>
    public string? Name => _registration.Name;

    /// <summary>Makes a backend known to the container's factory (backend packages call this from their <c>AddX</c>).</summary>
    public KvStoreBuilder AddBackend(IKvBackendRegistration backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (!Services.Any(d => d.ServiceType == typeof(IKvBackendRegistration) && d.ImplementationInstance?.GetType() == backend.GetType()))
        {
            Services.AddSingleton(backend);
        }

        return this;
    }

    /// <summary>Chooses when the store connects and whether an unreachable server fails the host start.</summary>
    public KvStoreBuilder WithStartup(KvStoreStartup startup)
    {
        _registration.Startup = startup;
        return this;
    }
}
