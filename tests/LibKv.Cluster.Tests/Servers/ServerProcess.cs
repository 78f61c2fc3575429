using System.Diagnostics;
using System.Globalization;

namespace LibKv.Cluster.Tests.Servers;

/// <summary>
/// One server process started through <c>exec</c> (so its PID is the server's), its output appended to a log file;
/// stopped by PID, and guarded by a detached watchdog that kills it if this test process dies first.
/// </summary>
public sealed class ServerProcess
{
    private Process? _process;

    private ServerProcess(Process process, string logFile)
    {
        _process = process;
        LogFile = logFile;
    }

    /// <summary>The server's PID.</summary>
    public int Pid { get; private set; }

    /// <summary>Where the server's stdout and stderr go.</summary>
    public string LogFile { get; }

    /// <summary>True until <see cref="Kill"/> or the process exits by itself.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>
    /// Starts <paramref name="binary"/> with <paramref name="arguments"/>; <paramref name="marker"/> (a unique path on
    /// its command line) lets the watchdog tell the server from a process that reused its PID; the watchdog removes
    /// <paramref name="cleanup"/> if this test process dies first.
    /// </summary>
    public static ServerProcess Start(string binary, IReadOnlyList<string> arguments, string logFile, string marker, string workingDirectory, string cleanup)
    {
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = workingDirectory };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("log=$1; shift; exec \"$@\" >>\"$log\" 2>&1");
        info.ArgumentList.Add("server");
        info.ArgumentList.Add(logFile);
        info.ArgumentList.Add(binary);
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"{binary} did not start.");
        var server = new ServerProcess(process, logFile) { Pid = process.Id };
        Watchdog.Guard(process.Id, marker, cleanup);
        return server;
    }

    /// <summary>Sends SIGKILL (a crash) and waits for the process to be gone; a no-op when it already is.</summary>
    public void Kill()
    {
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

    /// <summary>SIGSTOP: the process freezes with its sockets open, as a long GC pause or a hung machine would.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal("CONT");

    /// <summary>The last <paramref name="chars"/> characters of the log, for failure messages.</summary>
    public string LogTail(int chars = 3000)
    {
        try
        {
            var text = File.ReadAllText(LogFile);
            return text.Length <= chars ? text : text[^chars..];
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    private void Signal(string signal)
    {
        if (!IsRunning)
        {
            throw new InvalidOperationException($"Process {Pid} is not running.");
        }

        var info = new ProcessStartInfo("kill") { UseShellExecute = false };
        info.ArgumentList.Add("-" + signal);
        info.ArgumentList.Add(Pid.ToString(CultureInfo.InvariantCulture));
        using var kill = Process.Start(info)!;
        kill.WaitForExit();
    }
}
