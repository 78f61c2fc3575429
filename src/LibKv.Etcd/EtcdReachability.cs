using LibKv.Core;
using Microsoft.Extensions.Logging;

namespace LibKv.Etcd;

/// <summary>
/// The store's view of its connection, from every call and stream: Suspended once no endpoint can be reached,
/// Reconnected when one answers again; SessionLost when a kept lease ended, Reconnected once its keep-alive keys are
/// written again. Logs the outage once (Warning), its retries at Debug and its end once (Information).
/// </summary>
internal sealed class EtcdReachability
{
    private readonly object _gate = new();
    private readonly Dictionary<string, bool> _down = new(StringComparer.Ordinal);
    private readonly int _endpoints;
    private readonly OutageLog _outage;
    private Action<StoreState> _setState = static _ => { };
    private Func<bool> _rewritesPending = static () => false;
    private bool _suspended;
    private bool _sessionLost;

    // True while nothing is wrong: the hot path (every successful call) then takes no lock.
    private volatile bool _clean = true;

    public EtcdReachability(ILogger logger, TimeProvider time, int endpoints)
    {
        _endpoints = endpoints;
        _outage = new OutageLog(logger, "etcd connection", time);
    }

    /// <summary>Connects the state changes to the store, and tells whether keep-alive keys still wait to be written again.</summary>
    public void Attach(Action<StoreState> setState, Func<bool> rewritesPending)
    {
        _setState = setState;
        _rewritesPending = rewritesPending;
    }

    /// <summary>True while no endpoint can be reached.</summary>
    public bool IsSuspended
    {
        get
        {
            lock (_gate)
            {
                return _suspended;
            }
        }
    }

    /// <summary>An endpoint answered (with a result or with an error of its own).</summary>
    public void Reached(string endpoint)
    {
        if (_clean)
        {
            return;
        }

        lock (_gate)
        {
            if (_down.Count > 0)
            {
                _down.Remove(endpoint);
            }

            if (!_suspended && !_sessionLost)
            {
                _outage.Recovered(endpoint);
                _clean = _down.Count == 0;
                return;
            }

            _outage.Recovered(endpoint);
            var wasSuspended = _suspended;
            _suspended = false;
            if (_sessionLost && !_rewritesPending())
            {
                _sessionLost = false;
                _setState(StoreState.Reconnected);
            }
            else if (wasSuspended && !_sessionLost)
            {
                _setState(StoreState.Reconnected);
            }
        }
    }

    /// <summary>An attempt on <paramref name="endpoint"/> failed; an error the server itself answered counts as reaching it.</summary>
    public void Failed(string endpoint, Exception error, bool answered)
    {
        if (answered)
        {
            Reached(endpoint);
            return;
        }

        lock (_gate)
        {
            _clean = false;
            _outage.Failed(endpoint, error);
            _down[endpoint] = true;
            if (!_suspended && _down.Count >= _endpoints)
            {
                _suspended = true;
                _setState(StoreState.Suspended);
            }
        }
    }

    /// <summary>A lease behind keep-alive keys or a lock ended.</summary>
    public void LeaseLost()
    {
        lock (_gate)
        {
            _clean = false;
            _sessionLost = true;
            _setState(StoreState.SessionLost);
        }
    }

    /// <summary>Every keep-alive key waiting to be written again has been.</summary>
    public void RewritesDone()
    {
        lock (_gate)
        {
            if (_sessionLost && !_suspended && !_rewritesPending())
            {
                _sessionLost = false;
                _setState(StoreState.Reconnected);
            }
        }
    }
}
