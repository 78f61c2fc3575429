using Microsoft.Extensions.Logging;

namespace LibKv.Consul;

/// <summary>
/// The store's view of its connection to Consul: Suspended when a call or renewal found no endpoint answering,
/// Reconnected when one answers again, SessionLost when a session behind keep-alive keys or a lock ended.
/// </summary>
internal sealed partial class ConsulHealth
{
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private bool _suspended;
    private bool _sessionLost;
    private long _since;
    private int _failures;

    public ConsulHealth(ILogger logger, TimeProvider time)
    {
        _logger = logger;
        _time = time;
    }

    /// <summary>Called with each state change (Suspended, Reconnected, SessionLost).</summary>
    public Action<ConsulState>? Changed { get; set; }

    /// <summary>True while no endpoint answers.</summary>
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

    /// <summary>An endpoint failed; <paramref name="everyEndpoint"/> when the call has none left to try.</summary>
    public void Failed(string endpoint, Exception error, bool everyEndpoint)
    {
        bool first;
        lock (_gate)
        {
            first = ++_failures == 1;
            if (first)
            {
                _since = _time.GetTimestamp();
            }

            if (everyEndpoint && !_suspended)
            {
                _suspended = true;
                Changed?.Invoke(ConsulState.Suspended);
            }
        }

        if (first)
        {
            LogOutageStarted(_logger, endpoint, error.Message);
        }
        else
        {
            LogRetryFailed(_logger, endpoint, error.Message);
        }
    }

    /// <summary>An endpoint answered: ends an outage, and a suspension or session loss becomes Reconnected.</summary>
    public void Answered(string endpoint)
    {
        int failures;
        TimeSpan length;
        lock (_gate)
        {
            failures = _failures;
            length = failures == 0 ? TimeSpan.Zero : _time.GetElapsedTime(_since);
            _failures = 0;
            if (_suspended || _sessionLost)
            {
                _suspended = false;
                _sessionLost = false;
                Changed?.Invoke(ConsulState.Reconnected);
            }
        }

        if (failures > 0)
        {
            LogOutageEnded(_logger, endpoint, length.TotalSeconds, failures);
        }
    }

    /// <summary>A session behind keep-alive keys or a lock ended; the next answer from Consul makes it Reconnected.</summary>
    public void SessionLost()
    {
        lock (_gate)
        {
            _sessionLost = true;
            Changed?.Invoke(ConsulState.SessionLost);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consul at {Endpoint} failed: {Error}; retrying.")]
    private static partial void LogOutageStarted(ILogger logger, string endpoint, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Consul at {Endpoint} failed again: {Error}")]
    private static partial void LogRetryFailed(ILogger logger, string endpoint, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Consul at {Endpoint} answers again after an outage of {Seconds:0.0} s ({Failures} failed attempts).")]
    private static partial void LogOutageEnded(ILogger logger, string endpoint, double seconds, int failures);
}

/// <summary>Placeholder for Core's StoreState until it lands.</summary>
internal enum ConsulState
{
    Suspended,
    Reconnected,
    SessionLost,
}
