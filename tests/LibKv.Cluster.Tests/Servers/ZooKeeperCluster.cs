using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LibKv.Cluster.Tests.Servers;

/// <summary>
/// A 3-server ZooKeeper ensemble: server.N=127.0.0.1:quorumPort:electionPort, a myid file and a client port per
/// server; the leader is the server whose <c>srvr</c> answer says "Mode: leader".
/// </summary>
public sealed class ZooKeeperCluster : ServerCluster
{
    /// <summary>The jars the Debian package's server needs (as tests/LibKv.ZooKeeper.Tests/ZooKeeperServer.cs).</summary>
    private static readonly string[] s_jars =
    {
        "zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar",
        "netty-buffer.jar", "netty-codec.jar", "netty-common.jar", "netty-handler.jar", "netty-resolver.jar",
        "netty-transport.jar", "netty-transport-native-epoll.jar", "netty-transport-native-unix-common.jar",
        "jackson-annotations.jar", "jackson-core.jar", "jackson-databind.jar",
        "commons-cli.jar", "commons-io.jar", "metrics-core.jar", "snappy-java.jar",
    };

    private readonly string _java = Binaries.Java();
    private readonly string _jars = Binaries.ZooKeeperJars();
    private readonly int[] _client;
    private readonly int[] _quorum;
    private readonly int[] _election;

    public ZooKeeperCluster()
        : base("zk")
    {
        var ports = Ports.Free(3 * Size);
        _client = ports[..Size];
        _quorum = ports[Size..(2 * Size)];
        _election = ports[(2 * Size)..];
    }

    public override string Backend => "zookeeper";

    public override IReadOnlyList<string> ClientEndpoints => _client.Select(p => $"127.0.0.1:{p}").ToList();

    public override string Describe() =>
        string.Join("\n", Enumerable.Range(0, Size).Select(i => $"zookeeper server.{i + 1}: client {_client[i]}, quorum {_quorum[i]}, election {_election[i]}"));

    protected override ServerProcess Launch(int node)
    {
        var dir = NodeDir(node);
        var data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        File.WriteAllText(Path.Combine(data, "myid"), (node + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        var config = Path.Combine(dir, "zoo.cfg");
        var lines = new List<string>
        {
            // 250 ms ticks: sessions of 0.5-60 s; a follower is dropped after 2.5 s of silence (syncLimit), joins in 10 s.
            "tickTime=250",
            "initLimit=40",
            "syncLimit=10",
            "minSessionTimeout=500",
            "maxSessionTimeout=60000",
            $"dataDir={data}",
            $"clientPort={_client[node]}",
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=srvr,ruok",
            "forceSync=no",
            "reconfigEnabled=false",
            "standaloneEnabled=false",
        };
        lines.AddRange(Enumerable.Range(0, Size).Select(i => $"server.{i + 1}=127.0.0.1:{_quorum[i]}:{_election[i]}"));
        File.WriteAllText(config, string.Join('\n', lines) + "\n");
        var classpath = string.Join(':', s_jars.Select(j => Path.Combine(_jars, j)).Where(File.Exists));
        return StartProcess(node, _java, [
            "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
            "-cp", classpath,
            "-Dzookeeper.extendedTypesEnabled=true",
            "-Dznode.container.checkIntervalMs=500",
            "-Dzookeeper.admin.enableServer=false",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            config,
        ], config);
    }

    protected override async Task<NodeRole> RoleAsync(int node, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, _client[node], cancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("srvr"), cancellationToken);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(cancellationToken);
        return text.Contains("Mode: leader", StringComparison.Ordinal) ? NodeRole.Leader
            : text.Contains("Mode: follower", StringComparison.Ordinal) ? NodeRole.Follower
            : NodeRole.Unknown;
    }
}
