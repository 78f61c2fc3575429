using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace LibKv.Consul;

/// <summary>
/// A Consul session this client created; <see cref="Lost"/> fires once the server may no longer have it: renewal
/// found it gone, or its local deadline (the send time of the last answered renewal or of the create, plus the TTL)
/// passed, which is before the server can invalidate it.
/// </summary>
internal sealed class ConsulSession : IDisposable
{
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private ITimer? _deadline;
    private long _confirmedSentAt;
    private int _isLost;
    private bool _holds;

    public ConsulSession(string id, TimeSpan ttl, SessionKind kind, long createSentAt, TimeProvider time)
    {
        _time = time;
        CreatedAt = createSentAt;
        _confirmedSentAt = createSentAt;
        Id = id;
        Ttl = ttl;
        Kind = kind;
        Lost = _lost.Token;
        Stopping = _stop.Token;
    }

    public string Id { get; }

    /// <summary>When its create request was sent (a <see cref="TimeProvider"/> timestamp).</summary>
    public long CreatedAt { get; }

    public TimeSpan Ttl { get; }

    public SessionKind Kind { get; }

    public CancellationToken Lost { get; }

    public bool IsLost => Volatile.Read(ref _isLost) != 0;

    /// <summary>The send time of the newest request the server answered for this session (create or renew).</summary>
    public long ConfirmedSentAt => Interlocked.Read(ref _confirmedSentAt);

    /// <summary>True once the session stands behind something (a held lock, keep-alive keys): its loss is a SessionLost.</summary>
    public bool Holds
    {
        get => Volatile.Read(ref _holds);
        set => Volatile.Write(ref _holds, value);
    }

    /// <summary>Called with the send time of each renewal the server confirmed.</summary>
    public Action<long>? Renewed { get; set; }

    /// <summary>Called once when the local deadline passes without a newer confirmed renewal.</summary>
    public Action<ConsulSession>? DeadlinePassed { get; set; }

    /// <summary>Cancelled when renewal must stop (destroyed, lost, store disposed).</summary>
    public CancellationToken Stopping { get; }

    /// <summary>Starts counting the local deadline (renewed sessions only).</summary>
    public void StartDeadline()
    {
        lock (_gate)
        {
            if (IsLost || _deadline is not null)
            {
                return;
            }

            _deadline = _time.CreateTimer(static s => ((ConsulSession)s!).OnDeadline(), this, Remaining(), Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Records a renewal the server answered; <paramref name="sentAt"/> is when it was sent.</summary>
    public void Confirm(long sentAt)
    {
        lock (_gate)
        {
            if (IsLost || sentAt <= _confirmedSentAt)
            {
                return;
            }

            Interlocked.Exchange(ref _confirmedSentAt, sentAt);
            _deadline?.Change(Remaining(), Timeout.InfiniteTimeSpan);
        }

        Renewed?.Invoke(sentAt);
    }

    /// <summary>Ends the session for this client: stops renewal, fires <see cref="Lost"/>, then releases both sources; false when it had already ended.</summary>
    public bool MarkLost()
    {
        if (Interlocked.Exchange(ref _isLost, 1) != 0)
        {
            return false;
        }

        lock (_gate)
        {
            _deadline?.Dispose();
        }

        StopRenewal();
        try
        {
            _lost.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        // Both tokens stay cancelled for whoever holds them; only this first caller disposes.
        Dispose();
        return true;
    }

    public void StopRenewal()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Releases both token sources; called once the session is lost (see <see cref="MarkLost"/>).</summary>
    public void Dispose()
    {
        _stop.Dispose();
        _lost.Dispose();
    }

    private TimeSpan Remaining()
    {
        var left = Ttl - _time.GetElapsedTime(_confirmedSentAt);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private void OnDeadline()
    {
        lock (_gate)
        {
            if (IsLost || Remaining() > TimeSpan.Zero)
            {
                // A confirmation moved the deadline while this callback was on its way.
                if (!IsLost)
                {
                    _deadline?.Change(Remaining(), Timeout.InfiniteTimeSpan);
                }

                return;
            }
        }

        DeadlinePassed?.Invoke(this);
    }
}

/// <summary>The one-shot session holding a key, and the ModifyIndex of the write that gave it the key.</summary>
internal readonly record struct OneShotHold(ConsulSession Session, ulong Index);

/// <summary>What a session is for.</summary>
internal enum SessionKind
{
    /// <summary>Behavior delete, renewed: shared by every keep-alive key of one TTL.</summary>
    KeepAlive,

    /// <summary>Behavior delete, never renewed: one TTL write.</summary>
    OneShot,

    /// <summary>Behavior release, renewed: one lock hold.</summary>
    Lock,
}

/// <summary>Creates, renews and destroys this client's sessions; knows every live one.</summary>
internal sealed partial class ConsulSessions
{
    private const int ForeignCacheLimit = 4096;
    private const int SweepEvery = 256;
    private int _oneShotCount;
    private readonly ConsulClient _client;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationToken _closing;
    private readonly ConcurrentDictionary<string, ConsulSession> _live = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _foreignDeletes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, OneShotHold> _oneShotByKey = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private readonly Dictionary<TimeSpan, Task<ConsulSession>> _keepAlive = new();

    public ConsulSessions(ConsulClient client, ILogger logger, TimeProvider time, CancellationToken closing)
    {
        _client = client;
        _logger = logger;
        _time = time;
        _closing = closing;
    }

    /// <summary>The ids of every session this client believes alive.</summary>
    public IReadOnlyCollection<string> Ids => _live.Keys.ToArray();

    /// <summary>Creates a session; renewed in the background unless it is one-shot.</summary>
    public async Task<ConsulSession> CreateAsync(SessionKind kind, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var name = kind switch
        {
            SessionKind.Lock => "libkv-lock",
            SessionKind.KeepAlive => "libkv-keepalive",
            _ => "libkv-ttl",
        };
        var sent = _time.GetTimestamp();
        var id = await _client.CreateSessionAsync(name, ttl, deleteBehavior: kind != SessionKind.Lock, cancellationToken).ConfigureAwait(false);
        var session = new ConsulSession(id, ttl, kind, sent, _time);
        _live[id] = session;
        if (kind == SessionKind.OneShot && Interlocked.Increment(ref _oneShotCount) % SweepEvery == 0)
        {
            SweepExpired();
        }

        if (kind != SessionKind.OneShot)
        {
            session.DeadlinePassed = s => Lose(s, $"not renewed within its TTL of {s.Ttl.TotalSeconds:0.###} s");
            session.StartDeadline();
            _ = Task.Run(() => RenewLoopAsync(session), CancellationToken.None);
        }

        return session;
    }

    /// <summary>The shared keep-alive session of <paramref name="ttl"/>, created on first use.</summary>
    public async Task<ConsulSession> KeepAliveAsync(TimeSpan ttl, CancellationToken cancellationToken)
    {
        // The shared creation below is not bound to the caller's token: a call already cancelled must not start it.
        cancellationToken.ThrowIfCancellationRequested();
        Task<ConsulSession> task;
        lock (_gate)
        {
            if (!_keepAlive.TryGetValue(ttl, out task!) || task.IsFaulted || task.IsCanceled || (task.IsCompletedSuccessfully && task.Result.IsLost))
            {
                task = CreateAsync(SessionKind.KeepAlive, ttl, _closing);
                _keepAlive[ttl] = task;
            }
        }

        return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The one-shot session recorded for <paramref name="fullKey"/> now, for a later <see cref="ForgetOneShot(string, OneShotHold?)"/>.</summary>
    public OneShotHold? OneShotOf(string fullKey) => _oneShotByKey.TryGetValue(fullKey, out var hold) ? hold : null;

    /// <summary>
    /// Records that <paramref name="session"/> took <paramref name="fullKey"/> with the write at <paramref name="index"/>;
    /// returns the session to destroy: the one replaced, or this one when a later write was recorded first (concurrent
    /// writes finish in any order, and only the session of the last write on the server may live on).
    /// </summary>
    public ConsulSession? RecordOneShot(string fullKey, ConsulSession session, ulong index)
    {
        var hold = new OneShotHold(session, index);
        while (true)
        {
            if (!_oneShotByKey.TryGetValue(fullKey, out var old))
            {
                if (_oneShotByKey.TryAdd(fullKey, hold))
                {
                    return null;
                }
            }
            else if (old.Index > index)
            {
                return session;
            }
            else if (_oneShotByKey.TryUpdate(fullKey, hold, old))
            {
                return ReferenceEquals(old.Session, session) ? null : old.Session;
            }
        }
    }

    /// <summary>Forgets the one-shot session a write at <paramref name="index"/> replaced (recorded by an earlier write); returns it to destroy.</summary>
    public ConsulSession? ForgetOneShot(string fullKey, ulong index)
    {
        while (_oneShotByKey.TryGetValue(fullKey, out var old) && old.Index < index)
        {
            if (_oneShotByKey.TryRemove(new KeyValuePair<string, OneShotHold>(fullKey, old)))
            {
                return old.Session;
            }
        }

        return null;
    }

    /// <summary>Forgets <paramref name="seen"/> (taken before a delete) unless a write recorded another session since; returns it to destroy.</summary>
    public ConsulSession? ForgetOneShot(string fullKey, OneShotHold? seen) =>
        seen is { } hold && _oneShotByKey.TryRemove(new KeyValuePair<string, OneShotHold>(fullKey, hold)) ? hold.Session : null;

    /// <summary>Raised when a renewed session (keep-alive or lock) is lost, not when this client destroys it.</summary>
    public event Action<ConsulSession>? SessionLost;

    /// <summary>Forgets a renewed session the server no longer has (or may no longer have) and tells who cares.</summary>
    public void Lose(ConsulSession session, string reason)
    {
        if (!Forget(session))
        {
            return;
        }

        LogSessionLost(_logger, session.Id, reason);
        if (session.Kind != SessionKind.OneShot && !_closing.IsCancellationRequested)
        {
            if (session.Kind == SessionKind.KeepAlive || session.Holds)
            {
                SessionLost?.Invoke(session);
            }

            // Best effort: a session declared lost locally may still exist on the server; its keys must not stay
            // held by it (keep-alive keys are written again with a new session).
            DestroyLater(session);
        }
    }

    /// <summary>Forgets a session the server no longer has; false when it was already forgotten.</summary>
    public bool Forget(ConsulSession session)
    {
        var first = session.MarkLost();
        _live.TryRemove(session.Id, out _);
        lock (_gate)
        {
            if (_keepAlive.TryGetValue(session.Ttl, out var task) && task.IsCompletedSuccessfully && ReferenceEquals(task.Result, session))
            {
                _keepAlive.Remove(session.Ttl);
            }
        }

        return first;
    }

    /// <summary>Destroys a session on the server, best effort, and forgets it.</summary>
    public async Task DestroyAsync(ConsulSession session)
    {
        Forget(session);
        try
        {
            await _client.DestroySessionAsync(session.Id, CancellationToken.None).ConfigureAwait(false);
        }
        catch (KvException e)
        {
            LogDestroyFailed(_logger, session.Id, e.Message);
        }
        catch (ObjectDisposedException)
        {
            // The store was disposed meanwhile: the session expires on its own.
        }
    }

    /// <summary>Destroys a session in the background.</summary>
    public void DestroyLater(ConsulSession session) => _ = Task.Run(() => DestroyAsync(session), CancellationToken.None);

    /// <summary>True when <paramref name="sessionId"/> is a delete-behavior session (a TTL, not a lock).</summary>
    public async Task<bool> IsTtlSessionAsync(string sessionId, CancellationToken cancellationToken)
    {
        if (_live.TryGetValue(sessionId, out var own))
        {
            return own.Kind != SessionKind.Lock;
        }

        if (_foreignDeletes.TryGetValue(sessionId, out var known))
        {
            return known;
        }

        var info = await _client.SessionInfoAsync(sessionId, cancellationToken).ConfigureAwait(false);
        var isDelete = info is null || string.Equals(info.Behavior, "delete", StringComparison.OrdinalIgnoreCase);
        if (_foreignDeletes.Count > ForeignCacheLimit)
        {
            _foreignDeletes.Clear();
        }

        _foreignDeletes[sessionId] = isDelete;
        return isDelete;
    }

    /// <summary>Destroys the renewed sessions (keep-alive keys go, locks are freed) and stops all renewal.</summary>
    public async Task DisposeAsync()
    {
        var sessions = _live.Values.ToArray();
        var destroy = new List<Task>();
        foreach (var s in sessions)
        {
            s.StopRenewal();
            if (s.Kind != SessionKind.OneShot)
            {
                destroy.Add(DestroyAsync(s));
            }
        }

        await Task.WhenAll(destroy).ConfigureAwait(false);
    }

    /// <summary>Drops one-shot sessions the server has certainly invalidated (older than 2 × TTL plus slack).</summary>
    private void SweepExpired()
    {
        foreach (var (id, session) in _live)
        {
            if (session.Kind == SessionKind.OneShot && _time.GetElapsedTime(session.CreatedAt) > (2 * session.Ttl) + TimeSpan.FromSeconds(10))
            {
                _live.TryRemove(id, out _);
                session.MarkLost();
            }
        }

        foreach (var (key, hold) in _oneShotByKey)
        {
            if (hold.Session.IsLost)
            {
                _oneShotByKey.TryRemove(new KeyValuePair<string, OneShotHold>(key, hold));
            }
        }
    }

    /// <summary>
    /// Renews every TTL/3 counted from the send time of the last renewal, so one slow answer does not push the next
    /// renewal past the local deadline; retries faster after a failure. The deadline itself ends the session.
    /// </summary>
    private async Task RenewLoopAsync(ConsulSession session)
    {
        var interval = session.Ttl / 3;

        // A silent endpoint must not use up the TTL: each endpoint gets at most a third of it, then the next is tried.
        var attemptTimeout = TimeSpan.FromTicks(Math.Min(_client.Transport.RequestTimeout.Ticks, Math.Max(interval.Ticks, TimeSpan.TicksPerMillisecond * 300)));
        var retry = TimeSpan.FromMilliseconds(Math.Clamp(session.Ttl.TotalMilliseconds / 8, 100, 1000));
        var stop = session.Stopping;
        var lastSent = session.CreatedAt;
        var delay = interval;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, _time, stop).ConfigureAwait(false);
                }

                lastSent = _time.GetTimestamp();
                try
                {
                    if (!await _client.RenewSessionAsync(session.Id, attemptTimeout, stop).ConfigureAwait(false))
                    {
                        Lose(session, "the server no longer has it");
                        return;
                    }

                    session.Confirm(lastSent);
                    delay = interval - _time.GetElapsedTime(lastSent);
                }
                catch (KvException e) when (e.IsTransient)
                {
                    LogRenewFailed(_logger, session.Id, e.Message);
                    delay = retry;
                }
                catch (KvException e)
                {
                    Lose(session, e.Message);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
            // Created while the store was being disposed: nothing left to renew with.
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consul session {SessionId} is lost ({Reason}).")]
    private static partial void LogSessionLost(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Renewing Consul session {SessionId} failed: {Reason}")]
    private static partial void LogRenewFailed(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Destroying Consul session {SessionId} failed: {Reason}")]
    private static partial void LogDestroyFailed(ILogger logger, string sessionId, string reason);
}
