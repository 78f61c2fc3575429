using System.Reactive.Linq;
using Microsoft.Extensions.Logging;

namespace LibKv.Consul;

/// <summary>The blocking-query loop behind Watch and WatchTree.</summary>
internal static partial class ConsulWatch
{
    private static readonly TimeSpan s_firstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_maxBackoff = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A cold observable: polls once, emits, then blocks on the returned index and emits after every return.
    /// Transient failures retry from the last index with backoff; an index that goes backwards restarts from 0.
    /// Anything else (Unauthorized…) ends the watch with OnError. Disposal cancels the request in flight.
    /// </summary>
    public static IObservable<T> Create<T>(ConsulStore store, string key, Func<ulong, CancellationToken, Task<(ulong Index, T Value)>> poll) =>
        Observable.Create<T>(async (observer, cancellationToken) =>
        {
            var index = 0UL;
            var backoff = s_firstBackoff;
            while (!cancellationToken.IsCancellationRequested)
            {
                (ulong Index, T Value) result;
                try
                {
                    result = await poll(index, cancellationToken).ConfigureAwait(false);
                }
                catch (KvException e) when (e.IsTransient && !cancellationToken.IsCancellationRequested)
                {
                    LogRetry(store.Logger, key, backoff.TotalMilliseconds, e.Message);
                    await Task.Delay(backoff, store.Clock, cancellationToken).ConfigureAwait(false);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, s_maxBackoff.Ticks));
                    continue;
                }

                backoff = s_firstBackoff;
                var next = result.Index == 0 ? 1 : result.Index;
                observer.OnNext(result.Value);
                if (next < index)
                {
                    // Consul's rule: an index that went backwards (a restored or restarted server) restarts from 0.
                    LogIndexReset(store.Logger, key, index, next);
                    index = 0;
                    continue;
                }

                index = next;
            }
        });

    [LoggerMessage(Level = LogLevel.Debug, Message = "Watch of '{Key}' failed; retrying in {DelayMs} ms: {Reason}")]
    private static partial void LogRetry(ILogger logger, string key, double delayMs, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Watch of '{Key}': X-Consul-Index went back from {Old} to {New}; starting over.")]
    private static partial void LogIndexReset(ILogger logger, string key, ulong old, ulong @new);
}
