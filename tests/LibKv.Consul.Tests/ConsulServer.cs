using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LibKv.Consul.Tests;

/// <summary>A Consul agent on free loopback ports: dev mode (in memory) or a one-node server with a data dir.</summary>
public sealed class ConsulServer : IAsyncDisposable
{
    private static readonly Lazy<Task<ConsulServer>> s_shared = new(() => StartAsync(dev: true));
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly string _dir;
    private readonly bool _dev;
    private readonly string? _extraConfig;
    private readonly int[] _ports;
    private readonly ConsulServer? _joins;
    private bool _leaderless;
    private LibKv.Conformance.TestCertificates? _tls;
    private HttpClient? _tlsHttp;
    private Process? _process;
    private Process? _watchdog;
    private readonly StringBuilder _log = new();

    private ConsulServer(bool dev, string? extraConfig, ConsulServer? joins = null)
    {
        _joins = joins;
        _dev = dev;
        _extraConfig = extraConfig;
        _dir = Path.Combine(Path.GetTempPath(), "libkv-consul-" + Guid.NewGuid().ToString("N"));
        _ports = FreePorts(4);
    }

    /// <summary>The dev agent every test class of this assembly shares; killed when the test process exits.</summary>
    public static Task<ConsulServer> Shared => s_shared.Value;

    /// <summary>"127.0.0.1:port" of the HTTP API.</summary>
    public string Endpoint => $"127.0.0.1:{_ports[0]}";

    /// <summary>Starts an agent; <paramref name="extraConfig"/> is appended to its HCL config.</summary>
    public static async Task<ConsulServer> StartAsync(bool dev, string? extraConfig = null)
    {
        var server = new ConsulServer(dev, extraConfig);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Cleanup();
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>Starts a client agent (no server role) that joins <paramref name="server"/>'s cluster: a second endpoint of the same data.</summary>
    public static async Task<ConsulServer> StartClientAsync(ConsulServer server)
    {
        var client = new ConsulServer(dev: false, null, server);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => client.Cleanup();
        await client.StartProcessAsync();
        return client;
    }

    /// <summary>Starts a server that waits for a second one (<c>-bootstrap-expect 2</c>) and so never has a leader: it answers "No cluster leader".</summary>
    public static async Task<ConsulServer> StartLeaderlessAsync()
    {
        // Consul holds a request up to rpc_hold_timeout (7 s) waiting for a leader before it answers "No cluster leader".
        var server = new ConsulServer(dev: false, "performance { rpc_hold_timeout = \"300ms\" }\n") { _leaderless = true };
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Cleanup();
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>
    /// Starts a dev agent whose API is HTTPS only (no plain HTTP port) and requires a client certificate signed by
    /// <paramref name="certificates"/>' CA (verify_incoming_https); <see cref="Endpoint"/> is then its HTTPS port.
    /// </summary>
    public static async Task<ConsulServer> StartTlsAsync(LibKv.Conformance.TestCertificates certificates, string? extraConfig = null)
    {
        var server = new ConsulServer(dev: true, extraConfig) { _tls = certificates };
        var handler = new SocketsHttpHandler
        {
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new System.Security.Cryptography.X509Certificates.X509ChainPolicy
                {
                    TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust,
                    CustomTrustStore = { System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(certificates.CaFile) },
                    RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                },
                ClientCertificates = [System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificates.ClientCertificateFile, certificates.ClientKeyFile)],
            },
        };
        server._tlsHttp = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Cleanup();
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>"http://" or, for a TLS agent, "https://".</summary>
    public string Scheme => _tls is null ? "http://" : "https://";

    /// <summary>A closed loopback port (bound then released).</summary>
    public static int ClosedPort() => FreePorts(1)[0];

    /// <summary>The consul binary: LIBKV_CONSUL_BIN, else &lt;repo&gt;/.tools/consul/usr/bin/consul (build/install-consul.sh).</summary>
    public static string Binary()
    {
        var env = Environment.GetEnvironmentVariable("LIBKV_CONSUL_BIN");
        if (!string.IsNullOrEmpty(env))
        {
            return File.Exists(env) ? env : throw new InvalidOperationException($"LIBKV_CONSUL_BIN={env} does not exist.");
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "LibKv.sln")))
            {
                var path = Path.Combine(dir.FullName, ".tools", "consul", "usr", "bin", "consul");
                return File.Exists(path) ? path : throw new InvalidOperationException($"Consul is not installed at {path}: run build/install-consul.sh.");
            }
        }

        throw new InvalidOperationException("No repository root (LibKv.sln) above " + AppContext.BaseDirectory + "; set LIBKV_CONSUL_BIN.");
    }

    /// <summary>The agent's HTTP port.</summary>
    public int HttpPort => _ports[0];

    /// <summary>Freezes the agent with SIGSTOP: its connections stay open and nothing answers.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>Resumes a paused agent with SIGCONT.</summary>
    public void Resume() => Signal("CONT");

    /// <summary>Kills the agent (its data dir stays, for <see cref="StartProcessAsync"/> again).</summary>
    public void Kill()
    {
        // The agent first, its watchdog after: if this process is killed in between, the watchdog still kills it.
        var p = _process;
        _process = null;
        if (p is not null)
        {
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
    }

    /// <summary>Starts (or restarts) the agent on the same ports and data dir and waits for a leader.</summary>
    public async Task StartProcessAsync()
    {
        Directory.CreateDirectory(_dir);
        var config = Path.Combine(_dir, "config.hcl");
        var tlsConfig = _tls is null ? string.Empty : $$"""
            ports {
              https = {{_ports[0]}}
            }
            ca_file = "{{_tls.CaFile}}"
            cert_file = "{{_tls.ServerCertificateFile}}"
            key_file = "{{_tls.ServerKeyFile}}"
            verify_incoming_https = true

            """;
        await File.WriteAllTextAsync(config, "session_ttl_min = \"1s\"\n" + tlsConfig + (_extraConfig ?? string.Empty));
        var args = new List<string> { "agent" };
        if (_dev)
        {
            args.Add("-dev");
        }
        else if (_joins is not null)
        {
            args.AddRange(["-data-dir", Path.Combine(_dir, "data"), "-node", "libkv-client-" + _ports[0], "-retry-join", "127.0.0.1:" + _joins._ports[1], "-retry-interval", "1s"]);
        }
        else
        {
            args.AddRange(["-server", "-bootstrap-expect", _leaderless ? "2" : "1", "-data-dir", Path.Combine(_dir, "data"), "-node", "libkv-test"]);
        }

        args.AddRange([
            "-client", "127.0.0.1", "-bind", "127.0.0.1",
            // A command-line -http-port overrides the config file's ports: a TLS agent gets no plain HTTP port at all.
            "-http-port", _tls is null ? _ports[0].ToString() : "-1", "-dns-port", "-1",
            "-serf-lan-port", _ports[1].ToString(), "-serf-wan-port", _ports[2].ToString(),
            "-server-port", _ports[3].ToString(), "-grpc-port", "-1",
            "-config-file", config,
        ]);
        var info = new ProcessStartInfo(Binary())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        _watchdog = StartWatchdog(process.Id, config);

        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < until)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException("consul exited at start:\n" + LogText());
            }

            try
            {
                var leader = await (_tlsHttp ?? s_http).GetStringAsync($"{Scheme}{Endpoint}/v1/status/leader");
                if (_leaderless)
                {
                    return;
                }

                if (leader.Trim().Trim('"').Length > 0 && await KvReadyAsync())
                {
                    if (_dev)
                    {
                        // A dev agent keeps its data in memory and has read its config: nothing on disk is needed
                        // (the shared agent is only killed at process exit, which may not get to clean up).
                        Directory.Delete(_dir, recursive: true);
                    }

                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        Kill();
        throw new InvalidOperationException("consul did not elect a leader within 60 s:\n" + LogText());
    }

    private void Signal(string signal)
    {
        var id = _process?.Id ?? throw new InvalidOperationException("consul is not running.");
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    /// <summary>Destroys sessions from outside, as their expiry would.</summary>
    public async Task DestroySessionsAsync(IEnumerable<string> ids, string? token = null)
    {
        foreach (var id in ids)
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, $"{Scheme}{Endpoint}/v1/session/destroy/{id}");
            if (token is not null)
            {
                request.Headers.Add("X-Consul-Token", token);
            }

            using var response = await (_tlsHttp ?? s_http).SendAsync(request);
            response.EnsureSuccessStatusCode();
        }
    }

    public ValueTask DisposeAsync()
    {
        Cleanup();
        return ValueTask.CompletedTask;
    }

    private void Cleanup()
    {
        Kill();
        _tlsHttp?.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// Kills the agent if this test process dies without cleaning up (crash, runner kill). PIDs wrap, so both
    /// processes are identified by their start time (/proc/PID/stat field 22; a zombie counts as gone) captured now, and the agent also by
    /// its unique config path on its command line: a recycled PID is never killed.
    /// </summary>
    internal static Process StartWatchdog(int agentPid, string configPath)
    {
        const string script = """
            st() { set -- $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null); [ "$1" != Z ] && echo "${20}"; }
            while [ "$(st "$1")" = "$2" ] && [ "$(st "$3")" = "$4" ]; do sleep 1; done
            if [ "$(st "$3")" = "$4" ] && tr '\0' '\n' < "/proc/$3/cmdline" 2>/dev/null | grep -qxF -- "$5"; then kill -9 "$3"; fi
            """;
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        info.ArgumentList.Add("watchdog");
        info.ArgumentList.Add(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(StartTime(Environment.ProcessId));
        info.ArgumentList.Add(agentPid.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(StartTime(agentPid));
        info.ArgumentList.Add(configPath);
        return Process.Start(info)!;
    }

    /// <summary>A process's start time in clock ticks since boot (/proc/PID/stat field 22); "gone" when unreadable.</summary>
    private static string StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
        }
        catch (IOException)
        {
            return "gone";
        }
    }

    private async Task<bool> KvReadyAsync()
    {
        // A fresh server answers "No cluster leader" for a moment after electing itself; wait until KV reads work.
        using var response = await (_tlsHttp ?? s_http).GetAsync($"{Scheme}{Endpoint}/v1/kv/libkv-ready-probe");
        return response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.OK or HttpStatusCode.Forbidden;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            if (_log.Length < 200_000)
            {
                _log.AppendLine(line);
            }
        }
    }

    private string LogText()
    {
        lock (_log)
        {
            return _log.ToString();
        }
    }

    private static int[] FreePorts(int count)
    {
        var listeners = new List<TcpListener>();
        try
        {
            var ports = new int[count];
            for (var i = 0; i < count; i++)
            {
                var l = new TcpListener(IPAddress.Loopback, 0);
                l.Start();
                listeners.Add(l);
                ports[i] = ((IPEndPoint)l.LocalEndpoint).Port;
            }

            return ports;
        }
        finally
        {
            foreach (var l in listeners)
            {
                l.Stop();
            }
        }
    }
}
