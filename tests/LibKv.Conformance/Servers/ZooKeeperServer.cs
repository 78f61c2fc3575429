using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LibKv.Conformance.Servers;

/// <summary>A ZooKeeper server process on a free loopback port with its own config and temp data dir.</summary>
public sealed class ZooKeeperServer : IAsyncDisposable
{
    private const string JarDir = "/usr/share/java";
    /// <summary>
    /// What the Debian package's server needs (its zookeeper.jar manifest lists the same); slf4j-simple logs to a
    /// file in the server's temp dir.
    /// </summary>
    private static readonly string[] s_jars =
    {
        "zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar",
        "netty-buffer.jar", "netty-codec.jar", "netty-common.jar", "netty-handler.jar", "netty-resolver.jar",
        "netty-transport.jar", "netty-transport-native-epoll.jar", "netty-transport-native-unix-common.jar",
        "jackson-annotations.jar", "jackson-core.jar", "jackson-databind.jar",
        "commons-cli.jar", "commons-io.jar", "metrics-core.jar", "snappy-java.jar",
    };

    private static readonly Lazy<Task<ZooKeeperServer>> s_shared = new(() => StartAsync());
    private readonly string _dir;
    private readonly bool _extendedTypes;
    private Process? _process;
    private Process? _watchdog;

    private ZooKeeperServer(string dir, int port, bool extendedTypes)
    {
        _dir = dir;
        Port = port;
        _extendedTypes = extendedTypes;
    }

    /// <summary>The server every test class shares (started once, killed when the test process exits).</summary>
    public static Task<ZooKeeperServer> Shared => s_shared.Value;

    public int Port { get; }

    /// <summary>The TLS port (secureClientPort), or 0 when the server was started without TLS.</summary>
    public int SecurePort { get; private set; }

    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>
    /// Starts a server; <paramref name="extendedTypes"/> false leaves TTL nodes disabled; <paramref name="waitUntilReady"/>
    /// false returns as soon as the process is started (the port may not be listening yet).
    /// </summary>
    public static async Task<ZooKeeperServer> StartAsync(bool extendedTypes = true, int minSessionTimeoutMs = 400, bool waitUntilReady = true, LibKv.Conformance.TestCertificates? tls = null)
    {
        if (!File.Exists(Path.Combine(JarDir, "zookeeper.jar")))
        {
            throw new InvalidOperationException($"{JarDir}/zookeeper.jar is missing; run build/install-zookeeper.sh.");
        }

        var dir = Path.Combine(Path.GetTempPath(), "libkv-zk-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        var server = new ZooKeeperServer(dir, FreePort(), extendedTypes);
        var secure = Array.Empty<string>();
        if (tls is not null)
        {
            // ZooKeeper 3.8: TLS needs the Netty connection factory; a PEM key store is the key and certificate in one file.
            server.SecurePort = FreePort();
            var keyStore = Path.Combine(dir, "server-keystore.pem");
            await File.WriteAllTextAsync(keyStore, await File.ReadAllTextAsync(tls.ServerKeyFile) + "\n" + await File.ReadAllTextAsync(tls.ServerCertificateFile) + "\n");
            secure = new[]
            {
                $"secureClientPort={server.SecurePort}",
                "secureClientPortAddress=127.0.0.1",
                "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
                $"ssl.keyStore.location={keyStore}",
                "ssl.keyStore.type=PEM",
                $"ssl.trustStore.location={tls.CaFile}",
                "ssl.trustStore.type=PEM",
                "ssl.clientAuth=need",
            };
        }

        await File.WriteAllTextAsync(Path.Combine(dir, "zoo.cfg"), string.Join('\n', secure.Concat(new[] {
            "tickTime=200",
            $"minSessionTimeout={minSessionTimeoutMs}",
            "maxSessionTimeout=60000",
            "initLimit=10",
            "syncLimit=5",
            $"dataDir={Path.Combine(dir, "data")}",
            $"clientPort={server.Port}",
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=ruok,srvr,wchp",
            "forceSync=no",
            string.Empty })));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        await server.LaunchAsync(waitUntilReady);
        return server;
    }

    /// <summary>Starts an ensemble of <paramref name="count"/> servers on loopback ports and waits until each serves.</summary>
    public static async Task<IReadOnlyList<ZooKeeperServer>> StartEnsembleAsync(int count)
    {
        var members = Enumerable.Range(1, count).Select(id => (Id: id, Client: FreePort(), Peer: FreePort(), Election: FreePort())).ToList();
        var servers = new List<ZooKeeperServer>();
        foreach (var m in members)
        {
            var dir = Path.Combine(Path.GetTempPath(), "libkv-zk-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path.Combine(dir, "data"));
            await File.WriteAllTextAsync(Path.Combine(dir, "data", "myid"), m.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var server = new ZooKeeperServer(dir, m.Client, extendedTypes: true);
            await File.WriteAllTextAsync(Path.Combine(dir, "zoo.cfg"), string.Join('\n', new[]
            {
                "tickTime=200",
                "minSessionTimeout=400",
                "maxSessionTimeout=60000",
                "initLimit=50",
                "syncLimit=10",
                $"dataDir={Path.Combine(dir, "data")}",
                $"clientPort={m.Client}",
                "clientPortAddress=127.0.0.1",
                "maxClientCnxns=0",
                "admin.enableServer=false",
                "4lw.commands.whitelist=ruok,srvr,wchp",
                "forceSync=no",
            }.Concat(members.Select(o => $"server.{o.Id}=127.0.0.1:{o.Peer}:{o.Election}")).Append(string.Empty)));
            AppDomain.CurrentDomain.ProcessExit += (_, _) => server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            servers.Add(server);
        }

        foreach (var server in servers)
        {
            await server.LaunchAsync(waitUntilReady: false);
        }

        foreach (var server in servers)
        {
            await server.WaitAsync();
        }

        return servers;
    }

    /// <summary>Pauses the server process (SIGSTOP): it keeps its connections and answers nothing.</summary>
    public void Pause() => Signal(19);

    /// <summary>Resumes a paused server (SIGCONT).</summary>
    public void Resume() => Signal(18);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    private void Signal(int signal)
    {
        if (_process is { HasExited: false } p && kill(p.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({p.Id}, {signal}) failed with errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Waits until the server answers (after a start that did not wait).</summary>
    public Task WaitUntilReadyAsync() => WaitAsync();

    /// <summary>Kills the process, wipes its data (a server rebuilt from scratch) and starts it again on the same port.</summary>
    public async Task RestartWipedAsync()
    {
        Kill();
        var data = Path.Combine(_dir, "data");
        Directory.Delete(data, recursive: true);
        Directory.CreateDirectory(data);
        await LaunchAsync();
    }

    /// <summary>Kills the process (as a crash would) and starts it again on the same port and data dir.</summary>
    public async Task RestartAsync(TimeSpan downtime)
    {
        Kill();
        await Task.Delay(downtime);
        await LaunchAsync();
    }

    /// <summary>Kills the process.</summary>
    public void Kill()
    {
        var w = _watchdog;
        _watchdog = null;
        try
        {
            w?.Kill();
        }
        catch (InvalidOperationException)
        {
        }

        w?.Dispose();
        var p = _process;
        _process = null;
        if (p is null)
        {
            return;
        }

        try
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        p.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return ValueTask.CompletedTask;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task LaunchAsync(bool waitUntilReady = true)
    {
        var classpath = string.Join(':', s_jars.Select(j => Path.Combine(JarDir, j)).Where(File.Exists));
        var info = new ProcessStartInfo("java")
        {
            UseShellExecute = false,
            RedirectStandardOutput = false,
            RedirectStandardError = false,
            WorkingDirectory = _dir,
        };
        foreach (var arg in new[]
        {
            "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-cp", classpath,
            $"-Dzookeeper.extendedTypesEnabled={(_extendedTypes ? "true" : "false")}",
            "-Dznode.container.checkIntervalMs=500",
            "-Dzookeeper.admin.enableServer=false",
            $"-Dorg.slf4j.simpleLogger.logFile={Path.Combine(_dir, "server.log")}",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            Path.Combine(_dir, "zoo.cfg"),
        })
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException("java did not start");
        _watchdog = StartWatchdog(_process.Id, _dir);
        if (waitUntilReady)
        {
            await WaitAsync();
        }
    }

    private async Task WaitAsync()
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < until)
        {
            if (_process is null || _process.HasExited)
            {
                throw new InvalidOperationException($"ZooKeeper exited; see {_dir}/server.log");
            }

            if (await AnswersAsync())
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException($"ZooKeeper did not answer on {Endpoint}; see {_dir}/server.log");
    }

    /// <summary>
    /// Kills the server when the test process dies without running its exit handlers (a hang timeout kill). PIDs wrap
    /// here, so the test process is identified by its start time and the server by its unique zoo.cfg path: a reused
    /// PID is never killed.
    /// </summary>
    private static Process StartWatchdog(int serverPid, string dir)
    {
        var config = Path.Combine(dir, "zoo.cfg");
        var me = Environment.ProcessId;
        var script = $$"""
            alive() { [ "$(sed 's/.*) //' /proc/{{me}}/stat 2>/dev/null | cut -d' ' -f20)" = '{{SelfStartTime()}}' ]; }
            ours() { tr '\0' ' ' < /proc/{{serverPid}}/cmdline 2>/dev/null | grep -qF -- '{{config}}'; }
            while alive && ours; do sleep 1; done
            if ! alive; then
              if ours; then kill -9 {{serverPid}} 2>/dev/null; fi
              rm -rf '{{dir}}'
            fi
            """;
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        return Process.Start(info)!;
    }

    /// <summary>This process's start time in clock ticks since boot (/proc/self/stat field 22).</summary>
    private static string SelfStartTime()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
    }

    /// <summary>The answer to a four-letter command (e.g. "wchp": watches by path).</summary>
    public async Task<string> FourLetterAsync(string command)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    private async Task<bool> AnswersAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("srvr"));
            var buffer = new byte[16];
            var read = await stream.ReadAtLeastAsync(buffer, 16, throwOnEndOfStream: false);
            return read == 16 && Encoding.ASCII.GetString(buffer).StartsWith("Zookeeper versio", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
