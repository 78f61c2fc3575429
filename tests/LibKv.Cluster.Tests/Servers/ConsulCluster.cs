using System.Globalization;
using System.Net;

namespace LibKv.Cluster.Tests.Servers;

/// <summary>
/// A 3-server Consul cluster (agent -server, bootstrap_expect 3, retry_join of the others), each server with its own
/// http, serf_lan, serf_wan and server (raft RPC) port on 127.0.0.1, DNS and gRPC off; the leader is the server whose
/// raft address /v1/status/leader names.
/// </summary>
public sealed class ConsulCluster : ServerCluster
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly string _binary = Binaries.Consul();
    private readonly int[] _http;
    private readonly int[] _serfLan;
    private readonly int[] _serfWan;
    private readonly int[] _server;

    public ConsulCluster()
        : base("consul")
    {
        var ports = Ports.Free(4 * Size);
        _http = ports[..Size];
        _serfLan = ports[Size..(2 * Size)];
        _serfWan = ports[(2 * Size)..(3 * Size)];
        _server = ports[(3 * Size)..];
    }

    public override string Backend => "consul";

    public override IReadOnlyList<string> ClientEndpoints => _http.Select(p => $"127.0.0.1:{p}").ToList();

    public override string Describe() =>
        string.Join("\n", Enumerable.Range(0, Size).Select(i =>
            $"consul s{i + 1}: http {_http[i]}, serf_lan {_serfLan[i]}, serf_wan {_serfWan[i]}, server {_server[i]}"));

    protected override ServerProcess Launch(int node)
    {
        var dir = NodeDir(node);
        Directory.CreateDirectory(dir);
        var config = Path.Combine(dir, "config.hcl");
        var join = string.Join(", ", Enumerable.Range(0, Size).Where(i => i != node).Select(i => $"\"127.0.0.1:{_serfLan[i]}\""));
        File.WriteAllText(config, string.Create(CultureInfo.InvariantCulture, $$"""
            node_name = "s{{node + 1}}"
            server = true
            bootstrap_expect = {{Size}}
            data_dir = "{{Path.Combine(dir, "data")}}"
            bind_addr = "127.0.0.1"
            client_addr = "127.0.0.1"
            ports {
              http = {{_http[node]}}
              dns = -1
              grpc = -1
              serf_lan = {{_serfLan[node]}}
              serf_wan = {{_serfWan[node]}}
              server = {{_server[node]}}
            }
            retry_join = [{{join}}]
            retry_interval = "1s"
            session_ttl_min = "1s"
            disable_update_check = true
            log_level = "warn"
            performance {
              raft_multiplier = 1
            }
            autopilot {
              cleanup_dead_servers = false
            }

            """));
        return StartProcess(node, _binary, ["agent", "-config-file", config], config);
    }

    protected override async Task<NodeRole> RoleAsync(int node, CancellationToken cancellationToken)
    {
        var leader = (await s_http.GetStringAsync($"http://127.0.0.1:{_http[node]}/v1/status/leader", cancellationToken)).Trim().Trim('"');
        if (leader.Length == 0)
        {
            return NodeRole.Unknown;
        }

        // A server that knows the leader may still answer "No cluster leader" for a moment: KV reads must work.
        using var probe = await s_http.GetAsync($"http://127.0.0.1:{_http[node]}/v1/kv/libkv-ready-probe", cancellationToken);
        if (probe.StatusCode is not (HttpStatusCode.NotFound or HttpStatusCode.OK))
        {
            return NodeRole.Unknown;
        }

        return leader == $"127.0.0.1:{_server[node]}" ? NodeRole.Leader : NodeRole.Follower;
    }
}
