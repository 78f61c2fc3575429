using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace LibKv.Consul;

/// <summary>
/// The keep-alive keys of one store with their last value: when the session behind them is lost while the store
/// lives, they are written again with a new session as soon as Consul answers, and kept alive from then on.
/// Delete/DeleteTree through the store, a Put without keep-alive, or dispose ends a key's keep-alive.
/// </summary>
internal sealed partial class ConsulKeepAlive
{
    private static readonly TimeSpan s_firstBackoff = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan s_maxBackoff = TimeSpan.FromSeconds(2);
    private readonly ConcurrentDictionary<string, Registration> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<TimeSpan, bool> _restoring = new();
    private readonly ConsulClient _client;
    private readonly ConsulSessions _sessions;
    private readonly ConsulHealth _health;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationToken _closing;

    public ConsulKeepAlive(ConsulClient client, ConsulSessions sessions, ConsulHealth health, ILogger logger, TimeProvider time, CancellationToken closing)
    {
        _client = client;
        _sessions = sessions;
        _health = health;
        _logger = logger;
        _time = time;
        _closing = closing;
        sessions.SessionLost += OnSessionLost;
    }

    /// <summary>Records that <paramref name="fullKey"/> is kept alive with <paramref name="value"/> (the write succeeded).</summary>
    public void Register(string fullKey, ReadOnlyMemory<byte> value, TimeSpan ttl) => _keys[fullKey] = new Registration(value.ToArray(), ttl);

    /// <summary>Ends the keep-alive of one key (called before the delete or plain write is sent).</summary>
    public void Remove(string fullKey) => _keys.TryRemove(fullKey, out _);

    /// <summary>Ends the keep-alive of a directory key and every key under it.</summary>
    public void RemoveTree(string fullKey)
    {
        Remove(fullKey);
        var prefix = fullKey + "/";
        foreach (var key in _keys.Keys)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                _keys.TryRemove(key, out _);
            }
        }
    }

    private void OnSessionLost(ConsulSession session)
    {
        if (session.Kind != SessionKind.KeepAlive)
        {
            return;
        }

        // SessionLost first; Reconnected once the keys are written again (a restore already running covers them).
        var start = _restoring.TryAdd(session.Ttl, true);
        _health.SessionLost(restoring: start);
        if (start)
        {
            _ = Task.Run(() => RestoreAsync(session.Ttl), CancellationToken.None);
        }
    }

    /// <summary>Writes every key of <paramref name="ttl"/> again with a new session, retrying until Consul answers.</summary>
    private async Task RestoreAsync(TimeSpan ttl)
    {
        var backoff = s_firstBackoff;
        try
        {
            while (!_closing.IsCancellationRequested)
            {
                try
                {
                    var session = await _sessions.KeepAliveAsync(ttl, _closing).ConfigureAwait(false);
                    var written = 0;
                    foreach (var (key, registration) in _keys)
                    {
                        if (registration.Ttl == ttl && !session.IsLost)
                        {
                            written += await RewriteAsync(key, registration, session).ConfigureAwait(false) ? 1 : 0;
                        }
                    }

                    if (!session.IsLost)
                    {
                        LogRestored(_logger, written, ttl.TotalSeconds);
                        return;
                    }
                }
                catch (KvException e) when (e.IsTransient)
                {
                    LogRestoreRetry(_logger, ttl.TotalSeconds, e.Message);
                }
                catch (KvException e)
                {
                    LogRestoreFailed(_logger, ttl.TotalSeconds, e.Message);
                    return;
                }

                await Task.Delay(backoff, _time, _closing).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, s_maxBackoff.Ticks));
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            _restoring.TryRemove(ttl, out _);
            _health.SessionRestored();
        }
    }

    /// <summary>Writes one key again unless its keep-alive ended meanwhile; false when it was not written.</summary>
    private async Task<bool> RewriteAsync(string key, Registration registration, ConsulSession session)
    {
        while (true)
        {
            if (!_keys.TryGetValue(key, out var current) || !ReferenceEquals(current, registration))
            {
                // Removed, or written again through the store meanwhile (that write used the live session).
                return false;
            }

            // Delete then lock, as any keep-alive write: whatever session still holds the key lets go of it.
            var outcome = await _client.TxnAsync(
                [new TxnOp("delete", key), new TxnOp("lock", key, registration.Value, Session: session.Id, Flags: ConsulClient.NewNonce())], key, _closing).ConfigureAwait(false);
            if (!outcome.Ok)
            {
                if (ConsulErrors.Classify(outcome.Errors[0]) == ConsulTxnFailure.InvalidSession)
                {
                    _sessions.Lose(session, "the server no longer has it");
                    return false;
                }

                throw ConsulErrors.FromTxn(outcome.Errors[0], key);
            }

            if (_keys.TryGetValue(key, out current) && ReferenceEquals(current, registration))
            {
                return true;
            }

            if (current is null)
            {
                // Deleted through the store while this write was on its way: take it out again, if still ours.
                await _client.TxnAsync([new TxnOp("check-session", key, Session: session.Id), new TxnOp("delete", key)], key, _closing).ConfigureAwait(false);
                return false;
            }

            registration = current;
            if (registration.Ttl != session.Ttl)
            {
                return false;
            }
        }
    }

    private sealed record Registration(byte[] Value, TimeSpan Ttl);

    [LoggerMessage(Level = LogLevel.Information, Message = "Wrote {Count} keep-alive key(s) of TTL {TtlSeconds} s again with a new Consul session.")]
    private static partial void LogRestored(ILogger logger, int count, double ttlSeconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Writing keep-alive keys of TTL {TtlSeconds} s again failed; retrying: {Reason}")]
    private static partial void LogRestoreRetry(ILogger logger, double ttlSeconds, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing keep-alive keys of TTL {TtlSeconds} s again failed for good: {Reason}")]
    private static partial void LogRestoreFailed(ILogger logger, double ttlSeconds, string reason);
}
