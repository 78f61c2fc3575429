namespace LibKv.Cli.Bench.Workloads;

/// <summary>Overwrites random keys among <c>--keys</c> with values of <c>--value-size</c> bytes.</summary>
internal sealed class PutWorkload : IWorkload
{
    private IReadOnlyList<IStore> _clients = Array.Empty<IStore>();
    private string[] _keys = Array.Empty<string>();
    private byte[] _value = Array.Empty<byte>();

    public Task SetupAsync(BenchSettings settings, IReadOnlyList<IStore> clients, CancellationToken cancellationToken)
    {
        _clients = clients;
        _keys = Enumerable.Range(0, settings.Keys).Select(BenchSettings.KeyOf).ToArray();
        _value = settings.MakeValue(new Random(2));
        return Task.CompletedTask;
    }

    public async ValueTask<bool> ExecuteAsync(int worker, CancellationToken cancellationToken)
    {
        await _clients[worker % _clients.Count].PutAsync(_keys[Random.Shared.Next(_keys.Length)], _value, cancellationToken: cancellationToken).ConfigureAwait(false);
        return true;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
