using System.Diagnostics;

namespace LibKv.Consul.Tests;

/// <summary>An etcd (/usr/bin/etcd or $ETCD_BIN) on free loopback ports: the wrong server for a Consul store to meet.</summary>
public sealed class EtcdProcess : IAsyncDisposable
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly string _dir;
    private Process? _process;
    private Process? _watchdog;

    private EtcdProcess(string dir, int clientPort)
    {
        _dir = dir;
        Endpoint = $"127.0.0.1:{clientPort}";
    }

    public string Endpoint { get; }

    public static async Task<EtcdProcess> StartAsync()
    {
        var binary = new[] { Environment.GetEnvironmentVariable("ETCD_BIN"), "/usr/bin/etcd", "/usr/local/bin/etcd" }
            .FirstOrDefault(c => !string.IsNullOrEmpty(c) && File.Exists(c))
            ?? throw new InvalidOperationException("etcd is not installed; run build/install-etcd.sh (or set ETCD_BIN).");
        var dir = Path.Combine(Path.GetTempPath(), "libkv-consul-etcd-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var client = $"http://127.0.0.1:{ConsulServer.ClosedPort()}";
        var peer = $"http://127.0.0.1:{ConsulServer.ClosedPort()}";
        var etcd = new EtcdProcess(dir, new Uri(client).Port);
        var dataDir = "--data-dir=" + Path.Combine(dir, "data");
        var info = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[]
        {
            "--name=default", dataDir, "--listen-client-urls=" + client, "--advertise-client-urls=" + client,
            "--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer, "--initial-cluster=default=" + peer,
            "--log-level=error",
        })
        {
            info.ArgumentList.Add(a);
        }

        etcd._process = Process.Start(info)!;
        etcd._process.OutputDataReceived += (_, _) => { };
        etcd._process.ErrorDataReceived += (_, _) => { };
        etcd._process.BeginOutputReadLine();
        etcd._process.BeginErrorReadLine();
        etcd._watchdog = ConsulServer.StartWatchdog(etcd._process.Id, dataDir);
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                using var response = await s_http.GetAsync(client + "/version");
                if (response.IsSuccessStatusCode)
                {
                    return etcd;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && DateTime.UtcNow < until && !etcd._process.HasExited)
            {
            }

            await Task.Delay(100);
        }
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            _process?.Kill(entireProcessTree: true);
            _process?.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }

        _process?.Dispose();
        try
        {
            _watchdog?.Kill();
        }
        catch (InvalidOperationException)
        {
        }

        _watchdog?.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }

        return ValueTask.CompletedTask;
    }
}
