using BenchmarkDotNet.Running;

namespace LibKv.Benchmarks;

/// <summary>Runs the benchmarks chosen on the command line, e.g. <c>--job short --filter '*'</c>.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
