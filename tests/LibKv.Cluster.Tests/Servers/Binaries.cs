namespace LibKv.Cluster.Tests.Servers;

/// <summary>Where the server binaries are; a missing one is an error naming its installer (build/install-*.sh).</summary>
internal static class Binaries
{
    /// <summary>The etcd binary: $ETCD_BIN, else /usr/bin/etcd or /usr/local/bin/etcd.</summary>
    public static string Etcd() =>
        new[] { Environment.GetEnvironmentVariable("ETCD_BIN"), "/usr/bin/etcd", "/usr/local/bin/etcd" }
            .FirstOrDefault(c => !string.IsNullOrEmpty(c) && File.Exists(c))
        ?? throw Missing("etcd", "build/install-etcd.sh (or set ETCD_BIN)");

    /// <summary>The directory of the ZooKeeper jars (Debian's zookeeper package).</summary>
    public static string ZooKeeperJars() =>
        File.Exists("/usr/share/java/zookeeper.jar") ? "/usr/share/java" : throw Missing("/usr/share/java/zookeeper.jar", "build/install-zookeeper.sh");

    /// <summary>The java launcher.</summary>
    public static string Java() =>
        new[] { "/usr/bin/java", "/usr/local/bin/java" }.FirstOrDefault(File.Exists) ?? throw Missing("java", "build/install-zookeeper.sh");

    /// <summary>The consul binary: $LIBKV_CONSUL_BIN, else &lt;repo&gt;/.tools/consul/usr/bin/consul.</summary>
    public static string Consul()
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
                return File.Exists(path) ? path : throw Missing(path, "build/install-consul.sh");
            }
        }

        throw new InvalidOperationException("No repository root (LibKv.sln) above " + AppContext.BaseDirectory + "; set LIBKV_CONSUL_BIN.");
    }

    private static InvalidOperationException Missing(string what, string how) => new($"{what} is not installed: run {how}.");
}
