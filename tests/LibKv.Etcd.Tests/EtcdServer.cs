using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LibKv.Etcd.Tests;

/// <summary>An etcd process on free loopback ports with a temporary data directory; killed on dispose.</summary>
public sealed class EtcdServer : IAsyncDisposable
{
    private static readonly List<EtcdServer> s_all = new();
    private Process? _process;

    static EtcdServer()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            lock (s_all)
            {
                foreach (var server in s_all)
                {
                    server.Kill();
                    server.DeleteData();
                }
            }
        };
    }

    private EtcdServer(string name, string binary, string dataDir, int clientPort, int peerPort, string[] extraArguments)
    {
        Name = name;
        InitialCluster = $"{name}=http://127.0.0.1:{peerPort}";
        ExtraArguments = extraArguments;
        Binary = binary;
        DataDir = dataDir;
        ClientPort = clientPort;
        PeerPort = peerPort;
    }

    public string Binary { get; }

    /// <summary>The member name (--name).</summary>
    public string Name { get; }

    /// <summary>The --initial-cluster of this member: itself alone, or every member of a cluster.</summary>
    public string InitialCluster { get; set; }

    /// <summary>The --initial-cluster-token: shared by the members of one cluster.</summary>
    public string ClusterToken { get; set; } = "libkv-etcd";

    /// <summary>The etcd process id while it runs.</summary>
    public int? ProcessId => _process?.Id;

    public string[] ExtraArguments { get; }

    public string DataDir { get; }

    public int ClientPort { get; }

    public int PeerPort { get; }

    public string Endpoint => $"127.0.0.1:{ClientPort}";

    /// <summary>Sends a signal to the running etcd ("STOP" freezes it with its connections open, "CONT" resumes it).</summary>
    public void Signal(string signal)
    {
        var id = _process?.Id ?? throw new InvalidOperationException("etcd is not running.");
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    /// <summary>The etcd binary: $ETCD_BIN, else /usr/bin/etcd; throws when missing (build/install-etcd.sh installs it).</summary>
    public static string FindBinary()
    {
        var candidates = new[] { Environment.GetEnvironmentVariable("ETCD_BIN"), "/usr/bin/etcd", "/usr/local/bin/etcd" };
        return candidates.FirstOrDefault(c => !string.IsNullOrEmpty(c) && File.Exists(c))
            ?? throw new InvalidOperationException("etcd is not installed; run build/install-etcd.sh (or set ETCD_BIN).");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<EtcdServer> StartAsync() => await StartAsync([]);

    public static async Task<EtcdServer> StartAsync(string[] extraArguments)
    {
        var server = await PrepareAsync("default", extraArguments);
        await server.RestartAsync();
        return server;
    }

    /// <summary>Creates a member (data directory, ports, watchdog) without starting it; <see cref="LaunchAsync"/> starts it.</summary>
    public static async Task<EtcdServer> PrepareAsync(string name, string[] extraArguments)
    {
        var parent = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        var dataDir = Path.Combine(parent, "libkv-etcd-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        var server = new EtcdServer(name, FindBinary(), dataDir, FreePort(), FreePort(), extraArguments);

        // A watchdog that kills etcd and removes its data once this test process is gone, even when it is killed.
        // It is double-forked, so it is not a descendant of this process and survives a kill of its process tree.
        // PIDs are reused here, so it identifies this process by its start time and etcd by its data dir.
        var script = dataDir + ".watchdog.sh";
        var pidFile = Path.Combine(dataDir, "etcd.pid");
        await File.WriteAllTextAsync(script, $$"""
            me={{Environment.ProcessId}}
            start='{{SelfStartTime()}}'
            alive() { [ "$(sed 's/.*) //' /proc/$me/stat 2>/dev/null | cut -d' ' -f20)" = "$start" ]; }
            while alive; do sleep 1; done
            if [ -f '{{pidFile}}' ]; then
              pid=$(cat '{{pidFile}}')
              if tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -qF -- '{{dataDir}}/data'; then kill -9 "$pid"; fi
            fi
            sleep 1
            rm -rf '{{dataDir}}' '{{script}}'
            """);
        using (var launcher = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", $"nohup /bin/sh '{script}' >/dev/null 2>&1 &"]) { UseShellExecute = false }))
        {
            launcher?.WaitForExit(5000);
        }

        lock (s_all)
        {
            s_all.Add(server);
        }

        return server;
    }

    /// <summary>(Re)starts etcd on the same ports and data directory and waits until it serves.</summary>
    public async Task RestartAsync()
    {
        await LaunchAsync();
        await WaitReadyAsync();
    }

    /// <summary>Stops etcd, removes its data and starts it again on the same ports: a server that lost its data.</summary>
    public async Task WipeAndRestartAsync()
    {
        Kill();
        Directory.Delete(Path.Combine(DataDir, "data"), recursive: true);
        await RestartAsync();
    }

    /// <summary>(Re)starts the etcd process on the same ports and data directory, without waiting for it to serve.</summary>
    public async Task LaunchAsync()
    {
        Kill();
        var peer = $"http://127.0.0.1:{PeerPort}";
        var client = $"http://127.0.0.1:{ClientPort}";
        var args = string.Join(' ', new[]
        {
            $"--name {Name}",
            $"--data-dir '{DataDir}/data'",
            $"--listen-client-urls {client}",
            $"--advertise-client-urls {client}",
            $"--listen-peer-urls {peer}",
            $"--initial-advertise-peer-urls {peer}",
            $"--initial-cluster {InitialCluster}",
            "--initial-cluster-state new",
            $"--initial-cluster-token {ClusterToken}",
            "--logger zap",
            "--log-level error",
            "--heartbeat-interval 50",
            "--election-timeout 500",
        }.Concat(ExtraArguments));
        var info = new ProcessStartInfo("/bin/sh", ["-c", $"exec '{Binary}' {args} >>'{DataDir}/etcd.log' 2>&1"])
        {
            UseShellExecute = false,
        };
        _process = Process.Start(info) ?? throw new InvalidOperationException("etcd did not start.");
        await File.WriteAllTextAsync(Path.Combine(DataDir, "etcd.pid"), _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Waits until this member serves a linearizable read (so the cluster has a leader).</summary>
    public async Task WaitReadyAsync()
    {
        var process = _process ?? throw new InvalidOperationException("etcd is not running.");
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                var log = File.Exists(Path.Combine(DataDir, "etcd.log")) ? await File.ReadAllTextAsync(Path.Combine(DataDir, "etcd.log")) : "";
                throw new InvalidOperationException($"etcd exited with {process.ExitCode}: {log}");
            }

            try
            {
                await using var probe = await StoreFactory.Default.CreateAsync("etcd", new StoreOptions { Endpoints = { Endpoint }, RequestTimeout = TimeSpan.FromSeconds(2), ConnectionTimeout = TimeSpan.FromSeconds(1) });
                await probe.ExistsAsync("probe");
                return;
            }
            catch (KvException) when (DateTime.UtcNow < until)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>This process's start time in clock ticks since boot (/proc/self/stat field 22).</summary>
    private static string SelfStartTime()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
    }

    /// <summary>Kills etcd at once (SIGKILL), as a crash would.</summary>
    public void Kill()
    {
        var process = _process;
        _process = null;
        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        process.Dispose();
        try
        {
            File.Delete(Path.Combine(DataDir, "etcd.pid"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        lock (s_all)
        {
            s_all.Remove(this);
        }

        DeleteData();
        return ValueTask.CompletedTask;
    }

    private void DeleteData()
    {
        try
        {
            Directory.Delete(DataDir, recursive: true);
            File.Delete(DataDir + ".watchdog.sh");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
