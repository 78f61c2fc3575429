namespace LibKv.Cli.Bench;

/// <summary>What <c>libkv bench</c> was asked to do.</summary>
internal sealed record BenchSettings(string Op, int Concurrency, int Clients, TimeSpan Duration, TimeSpan Warmup, int ValueSize, int Keys)
{
    public static readonly string[] Ops = ["get", "put", "cas", "watch"];

    public byte[] MakeValue(Random random)
    {
        var value = new byte[ValueSize];
        random.NextBytes(value);
        return value;
    }

    public static string KeyOf(int index) => "k/" + index.ToString("D7", System.Globalization.CultureInfo.InvariantCulture);

    public static IWorkload CreateWorkload(string op) => op switch
    {
        "get" => new Workloads.GetWorkload(),
        "put" => new Workloads.PutWorkload(),
        "cas" => new Workloads.CasWorkload(),
        "watch" => new Workloads.WatchWorkload(),
        _ => throw new UsageException($"unknown op '{op}': use one of {string.Join(", ", Ops)}"),
    };
}
