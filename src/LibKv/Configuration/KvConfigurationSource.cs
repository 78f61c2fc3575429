using LibKv;
using LibKv.Configuration;

namespace Microsoft.Extensions.Configuration;

/// <summary>Where a <see cref="KvConfigurationProvider"/> reads: the store, the key prefix, reload and optionality.</summary>
public sealed class KvConfigurationSource : IConfigurationSource
{
    /// <summary>The store to read.</summary>
    public StoreOptions Store { get; set; } = new();

    /// <summary>The directory whose keys become configuration: <c>{Prefix}/A/B</c> is <c>A:B</c>; "" for the whole store.</summary>
    public string Prefix { get; set; } = string.Empty;

    /// <summary>Watch the prefix and reload on every change (the default).</summary>
    public bool ReloadOnChange { get; set; } = true;

    /// <summary>An unreachable store gives empty configuration and is retried in the background, instead of failing the build.</summary>
    public bool Optional { get; set; }

    /// <summary>The factory that creates the store; <see cref="StoreFactory.Default"/> when null.</summary>
    public StoreFactory? Factory { get; set; }

    /// <inheritdoc />
    public IConfigurationProvider Build(IConfigurationBuilder builder) => new KvConfigurationProvider(this);
}

/// <summary>Adds a LibKv store to a configuration builder.</summary>
public static class KvConfigurationExtensions
{
    /// <summary>Reads configuration from the keys under a prefix of a store, reloading when they change.</summary>
    /// <code>
    /// builder.Configuration.AddKvStore(s => { s.Store = new StoreOptions { Backend = "etcd" }; s.Prefix = "config/myapp"; });
    /// </code>
    public static IConfigurationBuilder AddKvStore(this IConfigurationBuilder builder, Action<KvConfigurationSource> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var source = new KvConfigurationSource();
        configure(source);
        KeyPath.NormalizeDirectory(source.Prefix ?? string.Empty, nameof(KvConfigurationSource.Prefix));
        return builder.Add(source);
    }
}
