namespace LibKv.Cli.Bench;

/// <summary>One kind of operation the load runner drives; <see cref="ExecuteAsync"/> runs one operation of one worker.</summary>
internal interface IWorkload : IAsyncDisposable
{
    /// <summary>Prepares keys and watches before the clock starts.</summary>
    Task SetupAsync(BenchSettings settings, IReadOnlyList<IStore> clients, CancellationToken cancellationToken);

    /// <summary>Runs one operation for <paramref name="worker"/>; false when it lost a race (a CAS conflict), not an error.</summary>
    ValueTask<bool> ExecuteAsync(int worker, CancellationToken cancellationToken);
}
