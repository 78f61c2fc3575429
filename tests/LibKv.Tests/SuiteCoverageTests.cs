using System.Reflection;
using LibKv.Conformance;
using Xunit;

namespace LibKv.Tests;

/// <summary>Fails when a backend known to <see cref="StoreFactory.Default"/> is not run through the whole conformance suite.</summary>
public sealed class SuiteCoverageTests
{
    private static readonly Type[] s_suite = typeof(KvTestBase).Assembly.GetTypes()
        .Where(t => t.IsAbstract && t.IsSubclassOf(typeof(KvTestBase)))
        .OrderBy(t => t.Name, StringComparer.Ordinal)
        .ToArray();

    public static TheoryData<string> Backends()
    {
        var data = new TheoryData<string>();
        foreach (var backend in StoreFactory.Default.Backends)
        {
            data.Add(backend);
        }

        return data;
    }

    [Fact]
    public void The_suite_has_a_class_for_every_area_of_the_contract()
    {
        Assert.Equal(
            new[]
            {
                "AtomicTests", "BasicOpsTests", "ConfigurationTests", "CounterTests", "ErrorTests", "FencedWriteTests", "KeyTests", "LeaderElectionTests", "LockTests",
                "SemaphoreTests", "ServiceRegistryTests", "TtlTests", "WatchTests",
            },
            s_suite.Select(t => t.Name));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Every_registered_backend_runs_every_conformance_class(string backend)
    {
        var assembly = TestAssemblyOf(backend);
        Assert.True(assembly is not null, $"Backend '{backend}' is registered but no test assembly LibKv.<{backend}>.Tests is referenced by LibKv.Tests.");
        var types = assembly!.GetTypes();
        var missing = s_suite.Where(c => !types.Any(t => !t.IsAbstract && t.IsSubclassOf(c))).Select(c => c.Name).ToArray();
        Assert.True(missing.Length == 0, $"Backend '{backend}' lacks conformance subclasses of: {string.Join(", ", missing)}");
    }

    [Fact]
    public void The_factory_knows_every_backend_of_the_repository()
    {
        var expected = new List<string> { "memory" };
        foreach (var (name, project) in new[] { ("consul", "Consul"), ("etcd", "Etcd"), ("zookeeper", "ZooKeeper") })
        {
            if (File.Exists(Path.Combine(AppContext.BaseDirectory, $"LibKv.{project}.dll")))
            {
                expected.Add(name);
            }
        }

        Assert.Equal(expected.Order(StringComparer.Ordinal), StoreFactory.Default.Backends);
    }

    private static Assembly? TestAssemblyOf(string backend)
    {
        if (backend == "memory")
        {
            return typeof(MemoryFixture).Assembly;
        }

        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory, "LibKv.*.Tests.dll"))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            if (string.Equals(name, $"LibKv.{backend}.Tests", StringComparison.OrdinalIgnoreCase))
            {
                return Assembly.Load(new AssemblyName(name));
            }
        }

        return null;
    }
}
