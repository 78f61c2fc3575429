namespace LibKv.Cli.Bench.Workloads;

/// <summary>Reads random keys among <c>--keys</c> preloaded ones.</summary>
internal sealed class GetWorkload : IWorkload
{
    private IReadOnlyList<IStore> _clients = Array.Empty<IStore>();
    private string[] _keys = Array.Empty<string>();

    public async Task SetupAsync(BenchSettings settings, IReadOnlyList<IStore> clients, CancellationToken cancellationToken)
    {
        _clients = clients;
        _keys = Enumerable.Range(0, settings.Keys).Select(BenchSettings.KeyOf).ToArray();
        var value = settings.MakeValue(new Random(1));
        await Parallel.ForEachAsync(_keys, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (key, ct) => await clients[0].PutAsync(key, value, cancellationToken: ct).ConfigureAwait(false)).ConfigureAwait(false);
    }

    public async ValueTask<bool> ExecuteAsync(int worker, CancellationToken cancellationToken)
    {
        await _clients[worker % _clients.Count].GetAsync(_keys[Random.Shared.Next(_keys.Length)], cancellationToken: cancellationToken).ConfigureAwait(false);
        return true;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
