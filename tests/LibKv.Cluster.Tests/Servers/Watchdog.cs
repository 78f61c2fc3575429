using System.Diagnostics;
using System.Globalization;

namespace LibKv.Cluster.Tests.Servers;

/// <summary>
/// Kills a server when this test process dies without cleaning up (a runner's hang kill, a crash). The watchdog is
/// detached (setsid -f), so killing this process's tree does not take it along. PIDs wrap, so both processes are
/// identified by their start time (/proc/PID/stat field 22; a zombie counts as gone) and the server also by a unique
/// marker on its command line: a recycled PID is never killed. The watchdog ends by itself once the server is gone.
/// </summary>
internal static class Watchdog
{
    private const string Script = """
        st() { set -- $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null); [ "$1" != Z ] && echo "${20}"; }
        while [ "$(st "$1")" = "$2" ] && [ "$(st "$3")" = "$4" ]; do sleep 1; done
        if [ "$(st "$1")" != "$2" ]; then
          if [ "$(st "$3")" = "$4" ] && tr '\0' '\n' < "/proc/$3/cmdline" 2>/dev/null | grep -qF -- "$5"; then kill -9 "$3"; fi
          sleep 1
          rm -rf "$6"
        fi
        """;

    /// <summary>Guards <paramref name="serverPid"/>; on this process's death it is killed and <paramref name="cleanup"/> removed.</summary>
    public static void Guard(int serverPid, string marker, string? cleanup = null)
    {
        var info = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var a in new[]
        {
            "-f", "/bin/sh", "-c", Script, "watchdog",
            Environment.ProcessId.ToString(CultureInfo.InvariantCulture), StartTime(Environment.ProcessId),
            serverPid.ToString(CultureInfo.InvariantCulture), StartTime(serverPid), marker, cleanup ?? "/nonexistent-libkv",
        })
        {
            info.ArgumentList.Add(a);
        }

        using var launcher = Process.Start(info) ?? throw new InvalidOperationException("setsid did not start.");
        launcher.WaitForExit(5000);
    }

    /// <summary>A process's start time in clock ticks since boot; "gone" when unreadable.</summary>
    public static string StartTime(int pid)
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
}
