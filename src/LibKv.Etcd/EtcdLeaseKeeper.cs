using System.Collections.Concurrent;
using LibKv.Core;
using LibKv.Etcd.Grpc;
using LibKv.Etcd.Protocol;

namespace LibKv.Etcd;

/// <summary>
/// Keeps leases alive over one shared LeaseKeepAlive stream per store, each refreshed every third of its TTL.
/// A lease the server reports gone, or that could not be refreshed before it ran out, is lost: its callback runs once.
/// </summary>
internal sealed class EtcdLeaseKeeper : IAsyncDisposable
{
    private static readonly TimeSpan s_tick = TimeSpan.FromMilliseconds(200);
    private readonly EtcdConnection _connection;
    private readonly OutageLog _outage;
    private readonly CancellationTokenSource _closing = new();
    private readonly ConcurrentDictionary<long, Kept> _leases = new();
    private readonly object _gate = new();
    private GrpcDuplexCall<LeaseKeepAliveResponse>? _call;
    private Task? _connectionLoop;
    private Task? _tickLoop;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public EtcdLeaseKeeper(EtcdConnection connection)
    {
        _connection = connection;
        _outage = new OutageLog(connection.Logger, "etcd keep-alive stream", connection.Time);
    }

    /// <summary>The leases being kept alive.</summary>
    public IReadOnlyCollection<long> Ids => _leases.Keys.ToArray();

    /// <summary>The endpoint the keep-alive stream is open on, or null while it is down (for tests).</summary>
    internal string? StreamEndpoint => Volatile.Read(ref _call)?.Endpoint;

    /// <summary>
    /// Starts keeping <paramref name="id"/> alive; <paramref name="onLost"/> runs once if it is lost: when the server
    /// says it is gone, or (with <paramref name="loseOnDeadline"/>, for locks) when it could not be renewed in time.
    /// </summary>
    /// <remarks><paramref name="onRenewed"/> runs after each renewal the server confirmed, with the timestamp (store clock) at which it was sent and the TTL granted.</remarks>
    public void Add(long id, long ttlSeconds, Action<string>? onLost, bool loseOnDeadline, Action<long, TimeSpan>? onRenewed = null)
    {
        var now = Environment.TickCount64;
        _leases[id] = new Kept(id, ttlSeconds * 1000, onLost, loseOnDeadline, onRenewed, _connection.Time) { Deadline = now + (ttlSeconds * 1000), LastSent = now };
        lock (_gate)
        {
            if (_closing.IsCancellationRequested)
            {
                return;
            }

            _connectionLoop ??= Task.Run(ConnectionLoopAsync);
            _tickLoop ??= Task.Run(TickLoopAsync);
            _wake.TrySetResult();
        }
    }

    /// <summary>True while <paramref name="id"/> is kept alive (not lost, not removed).</summary>
    public bool Contains(long id) => _leases.ContainsKey(id);

    /// <summary>Stops keeping <paramref name="id"/> alive (no callback).</summary>
    public bool Remove(long id) => _leases.TryRemove(id, out _);

    public async ValueTask DisposeAsync()
    {
        Task? a, b;
        lock (_gate)
        {
            _closing.Cancel();
            _call?.Abort();
            a = _connectionLoop;
            b = _tickLoop;
        }

        foreach (var task in new[] { a, b })
        {
            if (task is not null)
            {
                try
                {
                    await task.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
    }

    private void Lose(Kept kept, string reason)
    {
        if (!_leases.TryRemove(new KeyValuePair<long, Kept>(kept.Id, kept)))
        {
            return;
        }

        EtcdLog.LeaseLost(_connection.Logger, kept.Id, reason);
        EtcdMetrics.LeasesLost.Add(1);
        if (kept.OnLost is not { } onLost)
        {
            return;
        }

        // Off the keep-alive loop: a hold's LostToken callbacks are user code.
        ThreadPool.UnsafeQueueUserWorkItem(
            state =>
            {
                try
                {
                    state.onLost(state.reason);
                }
                catch (Exception e)
                {
                    EtcdLog.BackgroundFailure(state.logger, e.Message);
                }
            },
            (onLost, reason, logger: _connection.Logger),
            preferLocal: false);
    }

    private async Task TickLoopAsync()
    {
        using var timer = new PeriodicTimer(s_tick);
        try
        {
            while (await timer.WaitForNextTickAsync(_closing.Token).ConfigureAwait(false))
            {
                var now = Environment.TickCount64;
                var call = Volatile.Read(ref _call);
                foreach (var kept in _leases.Values)
                {
                    if (kept.LoseOnDeadline && now >= kept.Deadline)
                    {
                        Lose(kept, "not renewed before its TTL ran out");
                    }
                    else if (call is not null && now - kept.LastSent >= kept.TtlMs / 3)
                    {
                        kept.Send(call, now);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ConnectionLoopAsync()
    {
        var closing = _closing.Token;
        var backoff = new Backoff();
        while (!closing.IsCancellationRequested)
        {
            Task wake;
            lock (_gate)
            {
                if (_wake.Task.IsCompleted)
                {
                    _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                wake = _wake.Task;
            }

            var first = _leases.Values.FirstOrDefault();
            if (first is null)
            {
                try
                {
                    await wake.WaitAsync(closing).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            GrpcDuplexCall<LeaseKeepAliveResponse>? call = null;
            var endpoint = _connection.EndpointList;
            string? silent = null;
            using var monitorStop = new CancellationTokenSource();
            Task monitor = Task.CompletedTask;
            try
            {
                // Requests on the last stream will never be answered now.
                foreach (var kept in _leases.Values)
                {
                    kept.ForgetSent();
                }

                first.MarkSent(Environment.TickCount64);
                call = await _connection.OpenStreamAsync(EtcdMethods.LeaseKeepAlive, new LeaseKeepAliveRequest { ID = first.Id }, LeaseKeepAliveResponse.Parser, closing).ConfigureAwait(false);
                endpoint = call.Endpoint;
                EtcdLog.StreamOpened(_connection.Logger, "keep-alive", endpoint);
                _outage.Recovered(endpoint);
                Volatile.Write(ref _call, call);

                // A silent member (paused, cut off) would let every lease run out: probe with a keep-alive when the
                // stream went quiet and move to another member when it does not answer within RequestTimeout.
                var liveness = new StreamLiveness(_connection.RequestTimeout);
                var open = call;
                monitor = liveness.MonitorAsync(
                    () =>
                    {
                        if (_leases.Values.FirstOrDefault() is { } probe)
                        {
                            probe.Send(open, Environment.TickCount64);
                        }

                        return true;
                    },
                    () =>
                    {
                        silent = $"no keep-alive answer within {liveness.AnswerTimeout.TotalSeconds:0.###} s";
                        _connection.Reachability.Failed(open.Endpoint, new TimeoutException(silent), answered: false);
                        open.Abort();
                    },
                    monitorStop.Token);
                while (await call.ReadAsync(closing).ConfigureAwait(false) is { } response)
                {
                    liveness.Heard();
                    backoff.Reset();
                    if (!_leases.TryGetValue(response.ID, out var kept))
                    {
                        continue;
                    }

                    if (response.TTL <= 0)
                    {
                        Lose(kept, "the server no longer has it (expired or revoked)");
                    }
                    else if (kept.Answered() is { } sent)
                    {
                        // From when the answered request was sent, not the latest one: that one may never arrive.
                        kept.Deadline = sent.Tick + (response.TTL * 1000);
                        kept.OnRenewed?.Invoke(sent.Stamp, TimeSpan.FromSeconds(response.TTL));
                    }
                }

                _outage.Failed(endpoint, new IOException("The server closed the stream."));
            }
            catch (OperationCanceledException) when (closing.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _outage.Failed(endpoint, silent is null ? e : new TimeoutException(silent, e));
                EtcdMetrics.StreamBroken("keep-alive");
            }
            finally
            {
                monitorStop.Cancel();
                await monitor.ConfigureAwait(false);
                Interlocked.CompareExchange(ref _call, null, call);
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

    private sealed class Kept(long id, long ttlMs, Action<string>? onLost, bool loseOnDeadline, Action<long, TimeSpan>? onRenewed, TimeProvider time)
    {
        public bool LoseOnDeadline { get; } = loseOnDeadline;

        public Action<long, TimeSpan>? OnRenewed { get; } = onRenewed;

        // Send times (tick count, and the store clock's timestamp) of the requests not answered yet, oldest first (a stream answers in order).
        private readonly Queue<(long Tick, long Stamp)> _pending = new();
        private long _deadline;
        private long _lastSent;

        public long Id { get; } = id;

        public long TtlMs { get; } = ttlMs;

        public Action<string>? OnLost { get; } = onLost;

        public long Deadline
        {
            get => Volatile.Read(ref _deadline);
            set => Volatile.Write(ref _deadline, value);
        }

        public long LastSent
        {
            get => Volatile.Read(ref _lastSent);
            set => Volatile.Write(ref _lastSent, value);
        }


        public void MarkSent(long now)
        {
            lock (_pending)
            {
                _pending.Enqueue((now, time.GetTimestamp()));
                LastSent = now;
            }
        }

        public void Send(GrpcDuplexCall<LeaseKeepAliveResponse> call, long now)
        {
            lock (_pending)
            {
                LastSent = now;
                var stamp = time.GetTimestamp();
                if (call.Write(new LeaseKeepAliveRequest { ID = Id }))
                {
                    _pending.Enqueue((now, stamp));
                }
            }
        }

        /// <summary>The send time of the request an answer belongs to, or null when none is pending.</summary>
        public (long Tick, long Stamp)? Answered()
        {
            lock (_pending)
            {
                return _pending.TryDequeue(out var sent) ? sent : null;
            }
        }

        public void ForgetSent()
        {
            lock (_pending)
            {
                _pending.Clear();
            }
        }
    }
}
