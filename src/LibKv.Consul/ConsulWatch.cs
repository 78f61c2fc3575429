using System.Reactive.Linq;
using Microsoft.Extensions.Logging;

namespace LibKv.Consul;

/// <summary>The blocking-query loop behind Watch and WatchTree.</summary>
internal static partial class ConsulWatch
{
    private static readonly TimeSpan s_firstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_maxBackoff = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A cold observable: reads once, emits, then blocks on the returned index and emits after every return. After a
    /// transient failure (the transport has already tried every endpoint) it retries with backoff by reading the
    /// current state without blocking, so neither a change made meanwhile nor a server whose index went backwards
    /// (restarted, restored) is missed. An index lower than the last one seen is reported to the store before its
    /// state is emitted, so the store's ordering starts over from it. Anything else (Unauthorized…) ends the watch
    /// with OnError. Disposal cancels the request in flight.
    /// </summary>
    public static IObservable<T> Create<T>(ConsulStore store, string key, Func<ulong, CancellationToken, Task<(ulong Index, T Value)>> poll) =>
        Observable.Create<T>(async (observer, cancellationToken) =>
        {
            var index = 0UL;
            var last = 0UL;
            var backoff = s_firstBackoff;
            var failed = false;
            while (!cancellationToken.IsCancellationRequested)
            {
                (ulong Index, T Value) result;
                try
                {
                    result = await poll(failed ? 0 : index, cancellationToken).ConfigureAwait(false);
                }
                catch (KvException e) when (e.IsTransient && !cancellationToken.IsCancellationRequested)
                {
                    failed = true;
                    LogRetry(store.Logger, key, backoff.TotalMilliseconds, e.Message);
                    await Task.Delay(backoff, store.Clock, cancellationToken).ConfigureAwait(false);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, s_maxBackoff.Ticks));
                    continue;
                }

                failed = false;
                backoff = s_firstBackoff;
                var next = result.Index == 0 ? 1 : result.Index;
                if (next < last)
                {
                    // Consul's index went backwards (a restarted -dev agent, a restored snapshot): what it says now is
                    // the truth, and ordering starts over from it.
                    LogIndexReset(store.Logger, key, last, next);
                    store.IndexWentBack();
                }

                last = next;
                observer.OnNext(result.Value);
                index = next;
            }
        });

    [LoggerMessage(Level = LogLevel.Debug, Message = "Watch of '{Key}' failed; retrying in {DelayMs} ms: {Reason}")]
    private static partial void LogRetry(ILogger logger, string key, double delayMs, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Watch of '{Key}': X-Consul-Index went back from {Old} to {New}; ordering starts over.")]
    private static partial void LogIndexReset(ILogger logger, string key, ulong old, ulong @new);
}
