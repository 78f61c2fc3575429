using System.Collections.Concurrent;
using System.Threading.Channels;
using Google.Protobuf;
using LibKv.Core;
using LibKv.Etcd.Grpc;
using LibKv.Etcd.Protocol;

namespace LibKv.Etcd;

/// <summary>
/// One multiplexed Watch stream per store. Each <see cref="EtcdWatch"/> has a client-chosen watch id and remembers the
/// next revision it needs, so after a dropped stream every watch is re-created from where it stopped.
/// </summary>
internal sealed class EtcdWatchHub : IAsyncDisposable
{
    /// <summary>The cancel reason of the watches ended because the server's revision went backwards.</summary>
    public const string ResetReason = "libkv: the server's revision went backwards";

    // etcd answers a progress request with a response for no particular watch.
    private const long ProgressWatchId = -1;
    private readonly Google.Protobuf.ByteString _probeKey;
    private readonly EtcdConnection _connection;
    private readonly OutageLog _outage;
    private readonly CancellationTokenSource _closing = new();
    private readonly ConcurrentDictionary<long, EtcdWatch> _watches = new();
    private readonly object _gate = new();
    private GrpcDuplexCall<WatchResponse>? _call;
    private long _generation;
    private long _nextId;

    // The highest revision any watch response (or a watch's initial read) showed; a lower one means lost history.
    private long _highest;
    private int _checking;
    private Task? _loop;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _suspended;

    public EtcdWatchHub(EtcdConnection connection, Google.Protobuf.ByteString probeKey)
    {
        _connection = connection;
        _probeKey = probeKey;
        _outage = new OutageLog(connection.Logger, "etcd watch stream", connection.Time);
    }

    /// <summary>Starts watching [key, rangeEnd) (just key when rangeEnd is empty) from <paramref name="startRevision"/>.</summary>
    public EtcdWatch Add(ByteString key, ByteString rangeEnd, long startRevision)
    {
        var watch = new EtcdWatch(this, Interlocked.Increment(ref _nextId), key, rangeEnd, startRevision);
        Raise(startRevision - 1);
        _watches[watch.Id] = watch;
        lock (_gate)
        {
            if (_closing.IsCancellationRequested)
            {
                watch.Complete();
                return watch;
            }

            if (_call is { } call && watch.SentGeneration != _generation)
            {
                watch.SentGeneration = _generation;
                call.Write(CreateRequest(watch));
            }

            _loop ??= Task.Run(LoopAsync);
            _wake.TrySetResult();
        }

        return watch;
    }

    /// <summary>The endpoint the stream is open on, or null while it is down (for tests).</summary>
    internal string? StreamEndpoint => Volatile.Read(ref _call)?.Endpoint;

    /// <summary>Test hook: drops the stream and keeps it down until <see cref="Resume"/>, as a long reconnect would.</summary>
    internal void Suspend()
    {
        lock (_gate)
        {
            _suspended ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _call?.Abort();
        }
    }

    /// <summary>Test hook: lets the stream reconnect after <see cref="Suspend"/>.</summary>
    internal void Resume()
    {
        lock (_gate)
        {
            _suspended?.TrySetResult();
            _suspended = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task? loop;
        lock (_gate)
        {
            _suspended?.TrySetResult();
            _closing.Cancel();
            loop = _loop;
            _call?.Abort();
        }

        foreach (var watch in _watches.Values)
        {
            watch.Complete();
        }

        if (loop is not null)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    internal void Remove(EtcdWatch watch)
    {
        if (!_watches.TryRemove(watch.Id, out _))
        {
            return;
        }

        lock (_gate)
        {
            if (_call is { } call && watch.SentGeneration == _generation)
            {
                call.Write(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = watch.Id } });
            }
        }
    }

    private void Raise(long revision)
    {
        var seen = Volatile.Read(ref _highest);
        while (revision > seen)
        {
            var was = Interlocked.CompareExchange(ref _highest, revision, seen);
            if (was == seen)
            {
                return;
            }

            seen = was;
        }
    }

    /// <summary>
    /// A response showed a revision below one already seen: a lagging member, or a cluster that lost its history
    /// (wiped, restored from a backup). A linearizable read tells them apart; on a loss every watch is ended with
    /// <see cref="ResetReason"/>, so it reads its key again and orders from there.
    /// </summary>
    private void CheckRevision()
    {
        if (Interlocked.CompareExchange(ref _checking, 1, 0) != 0)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                var read = await _connection.RangeAsync(new RangeRequest { Key = _probeKey, CountOnly = true }, null, _closing.Token).ConfigureAwait(false);
                var highest = Volatile.Read(ref _highest);
                if (read.Header.Revision < highest)
                {
                    Reset(highest, read.Header.Revision);
                }
            }
            catch (Exception e) when (e is KvException or OperationCanceledException or ObjectDisposedException)
            {
                // Checked again with the next response that shows a lower revision.
            }
            finally
            {
                Volatile.Write(ref _checking, 0);
            }
        });
    }

    private void Reset(long from, long to)
    {
        EtcdLog.RevisionWentBack(_connection.Logger, from, to);
        lock (_gate)
        {
            Volatile.Write(ref _highest, to);
            foreach (var watch in _watches.Values)
            {
                if (!_watches.TryRemove(watch.Id, out _))
                {
                    continue;
                }

                if (_call is { } call && watch.SentGeneration == _generation)
                {
                    call.Write(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = watch.Id } });
                }

                watch.Post(new WatchResponse { WatchId = watch.Id, Canceled = true, CancelReason = ResetReason, Header = new ResponseHeader { Revision = to } });
                watch.Complete();
            }
        }
    }

    private static WatchRequest CreateRequest(EtcdWatch watch) => new()
    {
        CreateRequest = new WatchCreateRequest
        {
            Key = watch.Key,
            RangeEnd = watch.RangeEnd,
            StartRevision = watch.NextRevision,
            WatchId = watch.Id,
        },
    };

    private async Task LoopAsync()
    {
        var closing = _closing.Token;
        var backoff = new Backoff();
        while (!closing.IsCancellationRequested)
        {
            Task wake;
            Task? suspended;
            lock (_gate)
            {
                suspended = _suspended?.Task;
                if (_wake.Task.IsCompleted)
                {
                    _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                wake = _wake.Task;
            }

            if (suspended is not null)
            {
                await suspended.WaitAsync(closing).ConfigureAwait(false);
                continue;
            }

            var first = _watches.Values.FirstOrDefault();
            if (first is null)
            {
                await wake.WaitAsync(closing).ConfigureAwait(false);
                continue;
            }

            GrpcDuplexCall<WatchResponse>? call = null;
            var endpoint = _connection.EndpointList;
            string? silent = null;
            using var monitorStop = new CancellationTokenSource();
            Task monitor = Task.CompletedTask;
            try
            {
                long generation;
                WatchRequest firstRequest;
                lock (_gate)
                {
                    generation = ++_generation;
                    first.SentGeneration = generation;
                    firstRequest = CreateRequest(first);
                }

                call = await _connection.OpenStreamAsync(EtcdMethods.Watch, firstRequest, WatchResponse.Parser, closing).ConfigureAwait(false);
                endpoint = call.Endpoint;
                EtcdLog.StreamOpened(_connection.Logger, "watch", endpoint);
                _outage.Recovered(endpoint);
                lock (_gate)
                {
                    if (_suspended is not null)
                    {
                        call.Abort();
                    }

                    _call = call;
                    foreach (var watch in _watches.Values)
                    {
                        if (watch.SentGeneration != generation)
                        {
                            watch.SentGeneration = generation;
                            call.Write(CreateRequest(watch));
                        }
                    }
                }

                // A member that stops answering (paused, cut off) leaves the stream open but silent: probe it with
                // progress requests and, when it does not answer within RequestTimeout, move to another member.
                var liveness = new StreamLiveness(_connection.RequestTimeout);
                var open = call;
                monitor = liveness.MonitorAsync(
                    () => open.Write(new WatchRequest { ProgressRequest = new WatchProgressRequest() }),
                    () =>
                    {
                        silent = $"no answer to a progress request within {liveness.AnswerTimeout.TotalSeconds:0.###} s";
                        _connection.Reachability.Failed(open.Endpoint, new TimeoutException(silent), answered: false);
                        open.Abort();
                    },
                    monitorStop.Token);
                while (await call.ReadAsync(closing).ConfigureAwait(false) is { } response)
                {
                    liveness.Heard();
                    backoff.Reset();
                    Dispatch(call, response);
                }

                _outage.Failed(endpoint, new IOException("The server closed the stream."));
            }
            catch (Exception e) when (!closing.IsCancellationRequested)
            {
                _outage.Failed(endpoint, silent is null ? e : new TimeoutException(silent, e));
                EtcdMetrics.StreamBroken("watch");
                if (e is KvException { IsTransient: false } fatal)
                {
                    // Unauthorized and the like: retrying cannot fix it; tell every watch.
                    foreach (var watch in _watches.Values)
                    {
                        watch.Fail(fatal);
                    }
                }
            }
            catch (Exception) when (closing.IsCancellationRequested)
            {
                return;
            }
            finally
            {
                monitorStop.Cancel();
                await monitor.ConfigureAwait(false);
                lock (_gate)
                {
                    if (ReferenceEquals(_call, call))
                    {
                        _call = null;
                    }
                }

                if (call is not null)
                {
                    await call.DisposeAsync().ConfigureAwait(false);
                    _connection.ReportBroken(call.Endpoint);
                }
            }

            try
            {
                await backoff.WaitAsync(closing).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Dispatch(GrpcDuplexCall<WatchResponse> call, WatchResponse response)
    {
        if (response.Canceled && _connection.HasCredentials && EtcdErrors.IsTokenProblem(response.CancelReason))
        {
            // etcd checks the stream's token again for every watch created on it and, once it expired, refuses the watch
            // (as watch id -1): authenticate again and reopen the stream, which re-creates every watch where it stopped.
            _connection.ForgetToken(call.AuthToken);
            call.Abort();
            return;
        }

        if (response.Header is { Revision: > 0 } header)
        {
            if (header.Revision < Volatile.Read(ref _highest))
            {
                CheckRevision();
            }
            else
            {
                Raise(header.Revision);
            }
        }

        if (response.WatchId == ProgressWatchId && !response.Created && !response.Canceled)
        {
            // The answer to a progress request: the stream is alive.
            return;
        }

        if (!_watches.TryGetValue(response.WatchId, out var watch))
        {
            // Includes "created": a watch removed while its stream was opening was never cancelled (a repeat is ignored).
            if (!response.Canceled)
            {
                call.Write(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = response.WatchId } });
            }

            return;
        }

        if (response.Canceled || response.CompactRevision > 0)
        {
            _watches.TryRemove(watch.Id, out _);
            watch.Post(response);
            watch.Complete();
            return;
        }

        if (response.Events.Count == 0)
        {
            return;
        }

        long last = 0;
        foreach (var e in response.Events)
        {
            last = Math.Max(last, e.Kv.ModRevision);
        }

        watch.NextRevision = Math.Max(watch.NextRevision, last + 1);
        watch.Post(response);
    }
}

/// <summary>One watch on the shared stream; its responses (events, or a final cancel/compaction) arrive in <see cref="Reader"/>.</summary>
internal sealed class EtcdWatch : IDisposable
{
    private readonly EtcdWatchHub _hub;
    private readonly Channel<WatchResponse> _responses = Channel.CreateUnbounded<WatchResponse>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    public EtcdWatch(EtcdWatchHub hub, long id, ByteString key, ByteString rangeEnd, long startRevision)
    {
        _hub = hub;
        Id = id;
        Key = key;
        RangeEnd = rangeEnd;
        NextRevision = startRevision;
    }

    public long Id { get; }

    public ByteString Key { get; }

    public ByteString RangeEnd { get; }

    /// <summary>The revision a re-created watch starts from: one past the last event seen.</summary>
    public long NextRevision { get; set; }

    /// <summary>The stream generation this watch was created on (hub bookkeeping).</summary>
    public long SentGeneration { get; set; }

    /// <summary>Responses in order; ends after a cancel/compaction response or when the store closes.</summary>
    public ChannelReader<WatchResponse> Reader => _responses.Reader;

    public void Dispose() => _hub.Remove(this);

    internal void Post(WatchResponse response) => _responses.Writer.TryWrite(response);

    internal void Complete() => _responses.Writer.TryComplete();

    internal void Fail(Exception error) => _responses.Writer.TryComplete(error);
}
