using LibKv.Core;
using Microsoft.Extensions.Logging;

namespace LibKv.Consul;

/// <summary>
/// A Consul lock: a release-behavior session per hold (TTL = LockOptions.Ttl, renewed every TTL/3) acquires the key in a
/// transaction; waiters block on the key with blocking queries. The fencing token is the ModifyIndex of the acquiring
/// write, a raft index, so it grows with every hold even across delete and re-create.
/// </summary>
internal sealed partial class ConsulLocker : LockerBase
{
    private readonly ConsulStore _store;
    private readonly string _full;
    private readonly byte[] _value;
    private Held? _held;

    public ConsulLocker(ConsulStore store, string key, LockOptions options)
        : base(key, options, store.Clock)
    {
        _store = store;
        _full = store.Full(key);
        _value = options.Value ?? Array.Empty<byte>();
    }

    /// <summary>The store that made this locker.</summary>
    public ConsulStore Store => _store;

    /// <summary>
    /// The transaction check that makes a write fenced by this lock: the lock key is still held by this hold's session.
    /// LockNotHeld when the hold already ended here.
    /// </summary>
    public TxnOp FenceCheck(string writtenKey)
    {
        var held = Volatile.Read(ref _held);
        if (held is null || held.Hold.IsLost || !IsHeld)
        {
            throw FenceRefused(writtenKey);
        }

        return new TxnOp("check-session", _full, Session: held.Session.Id);
    }

    /// <summary>Consul refused a fenced write's session check: the hold is over at the server, so it ends here too.</summary>
    public KvException FenceFailed(TxnOp fence, string writtenKey, string reason)
    {
        var held = Volatile.Read(ref _held);
        if (held is not null && string.Equals(held.Session.Id, fence.Session, StringComparison.Ordinal) && !held.Hold.IsLost)
        {
            LogLockLost(_store.Logger, Key, "a fenced write found the lock key no longer held by its session (" + reason + ")");
            held.Hold.Lose();
            _store.Sessions.DestroyLater(held.Session);
        }

        return FenceRefused(writtenKey);
    }

    private KvException FenceRefused(string writtenKey) =>
        new(KvErrorCode.LockNotHeld, $"The write of '{writtenKey}' is fenced by the lock '{Key}', which this client no longer holds at the server; nothing was changed.", writtenKey);

    /// <inheritdoc />
    protected override async ValueTask AcquireCoreAsync(LockHold hold, CancellationToken cancellationToken)
    {
        var sessions = _store.Sessions;
        var session = await sessions.CreateAsync(SessionKind.Lock, LockOptions.Ttl, cancellationToken).ConfigureAwait(false);
        var acquired = false;
        try
        {
            var index = 0UL;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (session.IsLost)
                {
                    sessions.Forget(session);
                    session = await sessions.CreateAsync(SessionKind.Lock, LockOptions.Ttl, cancellationToken).ConfigureAwait(false);
                }

                var outcome = await _store.Client.TxnAsync([new TxnOp("lock", _full, _value, Session: session.Id)], Key, cancellationToken).ConfigureAwait(false);
                if (outcome.Ok)
                {
                    var entry = outcome.Last!;
                    hold.FencingToken = entry.ModifyIndex;
                    hold.State = session;
                    session.Holds = true;
                    Volatile.Write(ref _held, new Held(hold, session));
                    acquired = true;

                    // The hold is certain for one TTL from the send of the last renewal Consul confirmed (the acquire
                    // itself does not renew the session's TTL on the server), and LockerBase ends it at that deadline.
                    session.Renewed = sent => hold.Confirm(sent, LockOptions.Ttl);
                    hold.Confirm(session.ConfirmedSentAt, LockOptions.Ttl);

                    // Registered before returning, so a session lost from now on (even by disposing the store at
                    // once) ends the hold without waiting for the monitor to start.
                    var registration = session.Lost.Register(static h => ((LockHold)h!).Lose(), hold);
                    _ = Task.Run(() => MonitorAsync(hold, session, entry.ModifyIndex, registration), CancellationToken.None);
                    return;
                }

                switch (ConsulErrors.Classify(outcome.Errors[0]))
                {
                    case ConsulTxnFailure.InvalidSession:
                        sessions.Forget(session);
                        continue;
                    case ConsulTxnFailure.LockHeld:
                        index = await WaitUntilFreeAsync(index, cancellationToken).ConfigureAwait(false);
                        continue;
                    default:
                        throw ConsulErrors.FromTxn(outcome.Errors[0], Key);
                }
            }
        }
        finally
        {
            if (!acquired)
            {
                // Destroying the session also releases the key if a cancelled request did acquire it.
                sessions.DestroyLater(session);
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// One bounded attempt, never repeated: with DeleteOnUnlock the guarded delete, then the session's destroy, both
    /// within RequestTimeout per endpoint. When Consul does not answer, UnlockAsync throws Unavailable and the session
    /// (no longer renewed) expires on its own within 2 × TTL, which releases the key.
    /// </remarks>
    protected override async ValueTask ReleaseCoreAsync(LockHold hold, CancellationToken cancellationToken)
    {
        if (hold.State is not ConsulSession session)
        {
            return;
        }

        var transport = _store.Client.Transport;
        _store.Sessions.Forget(session);
        using var budget = new CancellationTokenSource(transport.RequestTimeout * transport.EndpointCount, _store.Clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, budget.Token);
        KvException? failure = null;
        var destroyed = false;
        try
        {
            if (LockOptions.DeleteOnUnlock)
            {
                try
                {
                    var outcome = await _store.Client.TxnAsync([new TxnOp("check-session", _full, Session: session.Id), new TxnOp("delete", _full)], Key, linked.Token).ConfigureAwait(false);
                    if (!outcome.Ok)
                    {
                        LogReleaseSkipped(_store.Logger, Key, outcome.Errors[0].What);
                    }
                }
                catch (KvException e) when (e.IsTransient)
                {
                    // Destroying the session (maybe through another endpoint) still frees the key; whether the key
                    // was deleted stays unknown, and the caller is told so below.
                    failure = e;
                }
            }

            // Destroying a release-behavior session frees the key and leaves its value alone, so a value another
            // client wrote during the hold stays (Consul's unlock verb would overwrite it with ours).
            await _store.Client.DestroySessionAsync(session.Id, linked.Token).ConfigureAwait(false);
            destroyed = true;
        }
        catch (KvException e) when (e.IsTransient)
        {
            failure ??= e;
        }
        catch (OperationCanceledException) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            failure ??= KvException.Unavailable($"Releasing lock '{Key}' got no answer from Consul within {(transport.RequestTimeout * transport.EndpointCount).TotalSeconds:0.###} s ({transport.EndpointNames}); the lock is freed when its session expires (within 2 × TTL).", null, outcomeUnknown: true, Key);
        }
        finally
        {
            if (!destroyed && failure is null)
            {
                // Cancelled by the caller: the key must not stay held until the session expires.
                _store.Sessions.DestroyLater(session);
            }
        }

        if (failure is not null)
        {
            throw failure;
        }
    }

    /// <summary>Blocks on the key until no session holds it; returns the index to block on next time.</summary>
    private async Task<ulong> WaitUntilFreeAsync(ulong index, CancellationToken cancellationToken)
    {
        while (true)
        {
            var (response, entry) = await _store.Client.GetEntryAsync(_full, consistent: false, index, cancellationToken).ConfigureAwait(false);
            var next = response.Index == 0 ? 1 : response.Index;
            if (entry is null || string.IsNullOrEmpty(entry.Session))
            {
                return next < index ? 0 : next;
            }

            index = next < index ? 0 : next;
        }
    }

    /// <summary>Ends the hold when the session is lost or the key stops being held by it.</summary>
    private async Task MonitorAsync(LockHold hold, ConsulSession session, ulong index, CancellationTokenRegistration registration)
    {
        using var _ = registration;
        var token = hold.Token;
        while (!hold.IsLost)
        {
            try
            {
                var (response, entry) = await _store.Client.GetEntryAsync(_full, consistent: false, index, token).ConfigureAwait(false);
                if (entry is null || !string.Equals(entry.Session, session.Id, StringComparison.Ordinal))
                {
                    LogLockLost(_store.Logger, Key, entry is null ? "the key was deleted" : "another session holds the key");
                    hold.Lose();
                    _store.Sessions.DestroyLater(session);
                    return;
                }

                var next = response.Index == 0 ? 1 : response.Index;
                index = next < index ? 0 : next;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (KvException e) when (e.IsTransient)
            {
                // The session's renewal decides whether the hold survives an outage.
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250), _store.Clock, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            catch (KvException e)
            {
                LogLockLost(_store.Logger, Key, e.Message);
                hold.Lose();
                _store.Sessions.DestroyLater(session);
                return;
            }
        }
    }

    /// <summary>A hold and the session behind it, read together by fenced writes.</summary>
    private sealed record Held(LockHold Hold, ConsulSession Session);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lock '{Key}' was lost: {Reason}")]
    private static partial void LogLockLost(ILogger logger, string key, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Releasing lock '{Key}' found it already released: {Reason}")]
    private static partial void LogReleaseSkipped(ILogger logger, string key, string reason);
}
