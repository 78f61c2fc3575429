using System.Diagnostics;
using System.Globalization;

namespace LibKv.Etcd.Tests;

/// <summary>A Consul dev agent on free loopback ports (a wrong server to point etcd at); killed by PID on dispose.</summary>
public sealed class ConsulAgent : IAsyncDisposable
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly Process _process;

    private ConsulAgent(Process process, int httpPort)
    {
        _process = process;
        HttpPort = httpPort;
    }

    public int HttpPort { get; }

    public string Endpoint => $"127.0.0.1:{HttpPort}";

    /// <summary>The consul binary: LIBKV_CONSUL_BIN, else &lt;repo&gt;/.tools/consul/usr/bin/consul (build/install-consul.sh).</summary>
    public static string Binary()
    {
        var env = Environment.GetEnvironmentVariable("LIBKV_CONSUL_BIN");
        if (!string.IsNullOrEmpty(env))
        {
            return env;
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

    public static async Task<ConsulAgent> StartAsync()
    {
        var ports = Enumerable.Range(0, 4).Select(_ => EtcdServer.FreePort()).ToArray();
        var info = new ProcessStartInfo(Binary()) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
        {
            "agent", "-dev", "-client", "127.0.0.1", "-bind", "127.0.0.1",
            "-http-port", ports[0].ToString(CultureInfo.InvariantCulture), "-dns-port", "-1",
            "-serf-lan-port", ports[1].ToString(CultureInfo.InvariantCulture), "-serf-wan-port", ports[2].ToString(CultureInfo.InvariantCulture),
            "-server-port", ports[3].ToString(CultureInfo.InvariantCulture), "-grpc-port", "-1",
        })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("consul did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var agent = new ConsulAgent(process, ports[0]);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => agent.Kill();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var leader = await s_http.GetStringAsync($"http://{agent.Endpoint}/v1/status/leader");
                if (leader.Trim().Length > 2)
                {
                    return agent;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && clock.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
            {
            }

            if (process.HasExited || clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                agent.Kill();
                throw new InvalidOperationException("The Consul agent did not elect itself leader.");
            }

            await Task.Delay(100);
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        return ValueTask.CompletedTask;
    }

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }
}
