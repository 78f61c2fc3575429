using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace LibKv.Consul;

/// <summary>A Consul session this client created; <see cref="Lost"/> fires once the server no longer has it.</summary>
internal sealed class ConsulSession : IDisposable
{
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private int _isLost;

    public ConsulSession(string id, TimeSpan ttl, SessionKind kind, long createdAt)
    {
        CreatedAt = createdAt;
        Id = id;
        Ttl = ttl;
        Kind = kind;
        Lost = _lost.Token;
        Stopping = _stop.Token;
    }

    public string Id { get; }

    /// <summary>When it was created (a <see cref="TimeProvider"/> timestamp).</summary>
    public long CreatedAt { get; }

    public TimeSpan Ttl { get; }

    public SessionKind Kind { get; }

    public CancellationToken Lost { get; }

    public bool IsLost => Volatile.Read(ref _isLost) != 0;

    /// <summary>Cancelled when renewal must stop (destroyed, lost, store disposed).</summary>
    public CancellationToken Stopping { get; }

    /// <summary>Ends the session for this client: stops renewal, fires <see cref="Lost"/>, then releases both sources.</summary>
    public void MarkLost()
    {
        if (Interlocked.Exchange(ref _isLost, 1) == 0)
        {
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
        }
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
        var id = await _client.CreateSessionAsync(name, ttl, deleteBehavior: kind != SessionKind.Lock, cancellationToken).ConfigureAwait(false);
        var session = new ConsulSession(id, ttl, kind, _time.GetTimestamp());
        _live[id] = session;
        if (kind == SessionKind.OneShot && Interlocked.Increment(ref _oneShotCount) % SweepEvery == 0)
        {
            SweepExpired();
        }

        if (kind != SessionKind.OneShot)
        {
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

    /// <summary>Forgets a session the server no longer has.</summary>
    public void Forget(ConsulSession session)
    {
        session.MarkLost();
        _live.TryRemove(session.Id, out _);
        lock (_gate)
        {
            if (_keepAlive.TryGetValue(session.Ttl, out var task) && task.IsCompletedSuccessfully && ReferenceEquals(task.Result, session))
            {
                _keepAlive.Remove(session.Ttl);
            }
        }
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

    private async Task RenewLoopAsync(ConsulSession session)
    {
        var interval = session.Ttl / 2;
        var lastRenewed = _time.GetTimestamp();
        var delay = interval;
        var stop = session.Stopping;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(delay, _time, stop).ConfigureAwait(false);
                try
                {
                    if (!await _client.RenewSessionAsync(session.Id, stop).ConfigureAwait(false))
                    {
                        LogSessionGone(_logger, session.Id);
                        Forget(session);
                        return;
                    }

                    lastRenewed = _time.GetTimestamp();
                    delay = interval;
                }
                catch (KvException e) when (e.IsTransient)
                {
                    if (_time.GetElapsedTime(lastRenewed) >= session.Ttl)
                    {
                        // The server may invalidate it from now on: a lock can no longer be trusted.
                        LogSessionExpired(_logger, session.Id, e.Message);
                        Forget(session);
                        return;
                    }

                    delay = TimeSpan.FromMilliseconds(Math.Max(100, Math.Min(1000, session.Ttl.TotalMilliseconds / 8)));
                }
                catch (KvException e)
                {
                    LogSessionExpired(_logger, session.Id, e.Message);
                    Forget(session);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Consul session {SessionId} no longer exists; its keys and locks are gone.")]
    private static partial void LogSessionGone(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consul session {SessionId} could not be renewed within its TTL ({Reason}); treating it as lost.")]
    private static partial void LogSessionExpired(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Destroying Consul session {SessionId} failed: {Reason}")]
    private static partial void LogDestroyFailed(ILogger logger, string sessionId, string reason);
}
