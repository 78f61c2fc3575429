using LibKv;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers an <see cref="IStore"/> built from <see cref="StoreOptions"/>.</summary>
public static class KvServiceCollectionExtensions
{
    /// <summary>Binds <see cref="StoreOptions"/> to <paramref name="configuration"/>, validates them at start and registers a singleton <see cref="IStore"/>.</summary>
    /// <code>services.AddKvStore(configuration.GetSection("KvStore"));</code>
    public static IServiceCollection AddKvStore(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddKvStore(builder => builder.Configure(options => StoreOptionsBinder.Bind(configuration, options)));
    }

    /// <summary>Configures <see cref="StoreOptions"/> in code, validates them at start and registers a singleton <see cref="IStore"/>.</summary>
    public static IServiceCollection AddKvStore(this IServiceCollection services, Action<StoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return services.AddKvStore(builder => builder.Configure(configure));
    }

    private static IServiceCollection AddKvStore(this IServiceCollection services, Action<OptionsBuilder<StoreOptions>> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<StoreOptions>();
        configure(builder);
        builder.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StoreOptions>, StoreOptionsValidator>());
        services.TryAddSingleton(_ => StoreFactory.Default);
        services.TryAddSingleton<IStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<StoreOptions>>().Value.Clone();
            options.TimeProvider ??= sp.GetService<TimeProvider>();
            options.LoggerFactory ??= sp.GetService<ILoggerFactory>();
            var factory = sp.GetRequiredService<StoreFactory>();
            // DI has no async factories; creation verifies the server once, at first resolve.
            return factory.CreateAsync(options).AsTask().GetAwaiter().GetResult();
        });
        return services;
    }
}
