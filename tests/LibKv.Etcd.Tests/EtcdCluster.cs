namespace LibKv.Etcd.Tests;

/// <summary>A 3-member etcd cluster on loopback (distinct client and peer ports, data in temp directories).</summary>
public sealed class EtcdCluster : IAsyncDisposable
{
    private EtcdCluster(EtcdServer[] members) => Members = members;

    public EtcdServer[] Members { get; }

    /// <summary>Every member's client endpoint, in member order.</summary>
    public IEnumerable<string> Endpoints => Members.Select(m => m.Endpoint);

    public static async Task<EtcdCluster> StartAsync(int size = 3)
    {
        var token = "libkv-" + Guid.NewGuid().ToString("N")[..8];
        var members = new EtcdServer[size];
        for (var i = 0; i < size; i++)
        {
            members[i] = await EtcdServer.PrepareAsync("m" + i, []);
            members[i].ClusterToken = token;
        }

        var initial = string.Join(',', members.Select(m => $"{m.Name}=http://127.0.0.1:{m.PeerPort}"));
        foreach (var member in members)
        {
            member.InitialCluster = initial;
            await member.LaunchAsync();
        }

        var cluster = new EtcdCluster(members);
        try
        {
            await Task.WhenAll(members.Select(m => m.WaitReadyAsync()));
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var member in Members)
        {
            await member.DisposeAsync();
        }
    }
}

/// <summary>One 3-member cluster per test class.</summary>
public sealed class EtcdClusterFixture : Xunit.IAsyncLifetime
{
    public EtcdCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await EtcdCluster.StartAsync();

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
