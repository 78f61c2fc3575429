using LibKv.Core;
using Microsoft.Extensions.Logging;

namespace LibKv.Consul;

/// <summary>
/// The store's view of its connection to Consul: Suspended when a call, renewal or watch found no endpoint answering,
/// Reconnected when one answers again (or after a session loss), SessionLost when a session behind keep-alive keys or
/// a held lock ended. Outages are logged once through <see cref="OutageLog"/>.
/// </summary>
internal sealed class ConsulHealth
{
    private readonly OutageLog _outage;
    private readonly Action<StoreState> _setState;
    private readonly object _gate = new();
    private bool _suspended;
    private bool _sessionLost;
    private int _restoring;
    private int _failing; // 1 while an outage, a suspension or a session loss waits for an answer

    public ConsulHealth(ILogger logger, TimeProvider time, Action<StoreState> setState)
    {
        _outage = new OutageLog(logger, "Consul connection", time);
        _setState = setState;
    }

    /// <summary>An endpoint failed; <paramref name="everyEndpoint"/> when the call has none left to try.</summary>
    public void Failed(string endpoint, Exception error, bool everyEndpoint)
    {
        Volatile.Write(ref _failing, 1);
        _outage.Failed(endpoint, error);
        if (everyEndpoint)
        {
            lock (_gate)
            {
                if (!_suspended)
                {
                    _suspended = true;
                    _setState(StoreState.Suspended);
                }
            }
        }
    }

    /// <summary>An endpoint answered: ends an outage, and a suspension or session loss becomes Reconnected.</summary>
    public void Answered(string endpoint)
    {
        if (Volatile.Read(ref _failing) == 0)
        {
            return;
        }

        lock (_gate)
        {
            if (_restoring == 0)
            {
                Volatile.Write(ref _failing, 0);
                Reconnect();
            }
        }

        _outage.Recovered(endpoint);
    }

    /// <summary>
    /// A session behind keep-alive keys or a lock ended. With <paramref name="restoring"/> (keep-alive keys being written
    /// again) Reconnected waits for <see cref="SessionRestored"/>; otherwise the next answer from Consul brings it.
    /// </summary>
    public void SessionLost(bool restoring)
    {
        lock (_gate)
        {
            _sessionLost = true;
            _restoring += restoring ? 1 : 0;
            Volatile.Write(ref _failing, 1);
            _setState(StoreState.SessionLost);
        }
    }

    /// <summary>The keep-alive keys of a lost session are written again with a new session (or the store is closing).</summary>
    public void SessionRestored()
    {
        lock (_gate)
        {
            if (_restoring > 0 && --_restoring == 0)
            {
                Reconnect();
            }
        }
    }

    private void Reconnect()
    {
        if (_suspended || _sessionLost)
        {
            _suspended = false;
            _sessionLost = false;
            _setState(StoreState.Reconnected);
        }
    }
}
