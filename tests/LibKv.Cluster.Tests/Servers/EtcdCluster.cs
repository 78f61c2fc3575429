using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace LibKv.Cluster.Tests.Servers;

/// <summary>
/// A 3-member etcd cluster: members n1..n3, each with its own client and peer port on 127.0.0.1; the leader is the
/// member whose Maintenance/Status (the gRPC gateway's /v3/maintenance/status) names itself as leader.
/// </summary>
public sealed class EtcdCluster : ServerCluster
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly string _binary = Binaries.Etcd();
    private readonly int[] _client;
    private readonly int[] _peer;
    private readonly string _token = Guid.NewGuid().ToString("N");

    public EtcdCluster()
        : base("etcd")
    {
        var ports = Ports.Free(2 * Size);
        _client = ports[..Size];
        _peer = ports[Size..];
    }

    public override string Backend => "etcd";

    public override IReadOnlyList<string> ClientEndpoints => _client.Select(p => $"127.0.0.1:{p}").ToList();

    public override string Describe() =>
        string.Join("\n", Enumerable.Range(0, Size).Select(i => $"etcd n{i + 1}: client {_client[i]}, peer {_peer[i]}"));

    protected override ServerProcess Launch(int node)
    {
        var initial = string.Join(',', Enumerable.Range(0, Size).Select(i => $"n{i + 1}=http://127.0.0.1:{_peer[i]}"));
        var data = Path.Combine(NodeDir(node), "data");
        return StartProcess(node, _binary, [
            "--name", $"n{node + 1}",
            "--data-dir", data,
            "--listen-client-urls", $"http://127.0.0.1:{_client[node]}",
            "--advertise-client-urls", $"http://127.0.0.1:{_client[node]}",
            "--listen-peer-urls", $"http://127.0.0.1:{_peer[node]}",
            "--initial-advertise-peer-urls", $"http://127.0.0.1:{_peer[node]}",
            "--initial-cluster", initial,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", _token,
            // A loaded 2-core machine: a 1 s election timeout avoids needless elections, still fails over quickly.
            "--heartbeat-interval", "100",
            "--election-timeout", "1000",
            "--logger", "zap",
            "--log-level", "warn",
        ], data);
    }

    protected override async Task<NodeRole> RoleAsync(int node, CancellationToken cancellationToken)
    {
        using var response = await s_http.PostAsync(
            $"http://127.0.0.1:{_client[node]}/v3/maintenance/status", JsonContent.Create(new { }), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            return NodeRole.Unknown;
        }

        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        var root = doc.RootElement;
        var leader = Id(root, "leader");
        var self = root.TryGetProperty("header", out var header) ? Id(header, "member_id") : 0;
        if (leader == 0 || self == 0)
        {
            return NodeRole.Unknown;
        }

        // A member that answers status may still not serve reads (no quorum); a serializable-free range proves it does.
        using var range = await s_http.PostAsync(
            $"http://127.0.0.1:{_client[node]}/v3/kv/range", JsonContent.Create(new { key = "cHJvYmU=" }), cancellationToken);
        if (!range.IsSuccessStatusCode)
        {
            return NodeRole.Unknown;
        }

        return leader == self ? NodeRole.Leader : NodeRole.Follower;
    }

    private static ulong Id(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v)
            ? v.ValueKind == JsonValueKind.String ? ulong.Parse(v.GetString()!, CultureInfo.InvariantCulture) : v.GetUInt64()
            : 0;
}
