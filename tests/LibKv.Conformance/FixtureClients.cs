namespace LibKv.Conformance;

/// <summary>The client-creation loop every fixture shares: N stores through the factory on one fresh keyspace.</summary>
public static class FixtureClients
{
    /// <summary>A root no other test uses, so clients on a shared server start from an empty keyspace.</summary>
    public static string FreshRoot() => "t/" + Guid.NewGuid().ToString("N");

    /// <summary>Creates <paramref name="count"/> stores from <paramref name="options"/> (called once per client), then <paramref name="configure"/>.</summary>
    public static async Task<IStore[]> CreateAsync(int count, Func<StoreOptions> options, Action<StoreOptions>? configure, CancellationToken cancellationToken)
    {
        var clients = new IStore[count];
        for (var i = 0; i < count; i++)
        {
            var o = options();
            configure?.Invoke(o);
            clients[i] = await StoreFactory.Default.CreateAsync(o, cancellationToken);
        }

        return clients;
    }
}
