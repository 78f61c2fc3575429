using System.Buffers.Binary;

namespace LibKv.Cli.Bench.Workloads;

/// <summary>Read-modify-write of one shared counter with AtomicPut: a success increments it, a conflict is a lost race.</summary>
internal sealed class CasWorkload : IWorkload
{
    private const string CounterKey = "counter";
    private IReadOnlyList<IStore> _clients = Array.Empty<IStore>();

    public async Task SetupAsync(BenchSettings settings, IReadOnlyList<IStore> clients, CancellationToken cancellationToken)
    {
        _clients = clients;
        await clients[0].PutAsync(CounterKey, Encode(0), cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> ExecuteAsync(int worker, CancellationToken cancellationToken)
    {
        var client = _clients[worker % _clients.Count];
        var current = await client.GetAsync(CounterKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        var next = Encode(Decode(current.Value) + 1);
        try
        {
            await client.AtomicPutAsync(CounterKey, next, current, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (KvException e) when (e.Code == KvErrorCode.KeyModified)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static byte[] Encode(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        return bytes;
    }

    private static long Decode(byte[] value) => value.Length >= 8 ? BinaryPrimitives.ReadInt64BigEndian(value) : 0;
}
