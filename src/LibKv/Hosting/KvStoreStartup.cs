namespace LibKv.Hosting;

/// <summary>When a store registered with <c>AddKvStore</c> connects, and what an unreachable server does to the host.</summary>
public enum KvStoreStartup
{
    /// <summary>Connect while the host starts; an unreachable store fails the start (the default).</summary>
    FailHostStart,

    /// <summary>Connect while the host starts, retrying in the background with back-off; calls made meanwhile fail with Unavailable.</summary>
    RetryInBackground,

    /// <summary>Connect on the first call.</summary>
    OnFirstUse,
}

/// <summary>One <c>AddKvStore</c> registration: its name (null for the default store) and its startup.</summary>
public sealed class KvStoreRegistration(string? name)
{
    /// <summary>The store's name: the options name and the service key; null for the unnamed store.</summary>
    public string? Name { get; } = name;

    /// <summary>How the store connects.</summary>
    public KvStoreStartup Startup { get; set; } = KvStoreStartup.FailHostStart;

    /// <summary>The options name of this store.</summary>
    public string OptionsName => Name ?? Microsoft.Extensions.Options.Options.DefaultName;
}
