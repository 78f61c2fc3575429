using System.Diagnostics;

namespace LibKv.Cli.Bench;

/// <summary>
/// Drives a workload with N concurrent workers: a warm-up whose operations are not counted, then a measured window
/// of the given duration; each worker records into its own histogram, merged at the end.
/// </summary>
internal sealed class LoadRunner(BenchSettings settings, StoreOptions connection)
{
    private const int Warmup = 0;
    private const int Measuring = 1;
    private const int Stopped = 2;
    private int _phase = Warmup;

    public async Task<BenchResult> RunAsync(CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid().ToString("N")[..12];
        var admin = connection.Clone();
        if (ConnectionOptions.IsMemory(admin.Backend) && admin.Endpoints.Count == 0)
        {
            admin.Endpoints.Add("libkv-bench-" + id);
        }

        var benchDir = "libkv-bench/" + id;
        var options = admin.Clone();
        options.Root = KeyPath.Combine(KeyPath.NormalizeRoot(admin.Root), benchDir);
        var adminStore = await ConnectionOptions.ConnectAsync(admin, cancellationToken).ConfigureAwait(false);
        await using (adminStore.ConfigureAwait(false))
        {
            var clients = new List<IStore>();
            try
            {
                for (var i = 0; i < settings.Clients; i++)
                {
                    clients.Add(await ConnectionOptions.ConnectAsync(options, cancellationToken).ConfigureAwait(false));
                }

                var workload = BenchSettings.CreateWorkload(settings.Op);
                await using (workload.ConfigureAwait(false))
                {
                    await workload.SetupAsync(settings, clients, cancellationToken).ConfigureAwait(false);
                    return await MeasureAsync(workload, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                foreach (var client in clients)
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                }

                await CleanUpAsync(adminStore, benchDir).ConfigureAwait(false);
            }
        }
    }

    private async Task<BenchResult> MeasureAsync(IWorkload workload, CancellationToken cancellationToken)
    {
        var stats = new WorkerStats[settings.Concurrency];
        var workers = new Task[settings.Concurrency];
        for (var i = 0; i < workers.Length; i++)
        {
            stats[i] = new WorkerStats();
            var worker = i;
            workers[i] = Task.Run(() => WorkAsync(workload, worker, stats[worker], cancellationToken), CancellationToken.None);
        }

        try
        {
            await Task.Delay(settings.Warmup, cancellationToken).ConfigureAwait(false);
            var start = Stopwatch.GetTimestamp();
            Volatile.Write(ref _phase, Measuring);
            var interrupted = false;
            try
            {
                await Task.Delay(settings.Duration, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl-C during the measured window: report what was measured so far.
                interrupted = true;
            }

            Volatile.Write(ref _phase, Stopped);
            var elapsed = Stopwatch.GetElapsedTime(start);
            await Task.WhenAll(workers).ConfigureAwait(false);
            var total = new WorkerStats();
            foreach (var s in stats)
            {
                total.Merge(s);
            }

            return new BenchResult(settings, connection.Backend, elapsed, total) { Interrupted = interrupted };
        }
        finally
        {
            Volatile.Write(ref _phase, Stopped);
            await Task.WhenAll(workers).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }
    }

    private async Task WorkAsync(IWorkload workload, int worker, WorkerStats stats, CancellationToken cancellationToken)
    {
        int phase;
        while ((phase = Volatile.Read(ref _phase)) != Stopped && !cancellationToken.IsCancellationRequested)
        {
            var start = Stopwatch.GetTimestamp();
            bool succeeded;
            try
            {
                succeeded = await workload.ExecuteAsync(worker, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is KvException or TimeoutException or ObjectDisposedException)
            {
                if (phase == Measuring)
                {
                    stats.Errors++;
                    stats.FirstError ??= e.Message;
                }

                continue;
            }

            if (phase != Measuring)
            {
                continue;
            }

            stats.Latency.RecordSince(start);
            if (succeeded)
            {
                stats.Succeeded++;
            }
            else
            {
                stats.Conflicts++;
            }
        }
    }

    private static async Task CleanUpAsync(IStore admin, string benchDir)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await admin.DeleteTreeAsync(benchDir, timeout.Token).ConfigureAwait(false);
        }
        catch (KvException)
        {
            // Nothing written (KeyNotFound), or the server went away: nothing more to do.
        }
        catch (OperationCanceledException)
        {
        }
    }
}
