using Microsoft.Extensions.Logging;

namespace LibKv.Core;

/// <summary>
/// Logs one outage of one connection or stream as a Warning when it starts, Debug for each retry, and one Information
/// with its length when it ends, so a long outage does not flood the log.
/// </summary>
public sealed partial class OutageLog
{
    private readonly ILogger _logger;
    private readonly string _what;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private long _since;
    private int _failures;

    /// <summary>Creates the log of <paramref name="what"/> (for example "etcd watch stream").</summary>
    public OutageLog(ILogger logger, string what, TimeProvider time)
    {
        _logger = logger;
        _what = what;
        _time = time;
    }

    /// <summary>True while an outage is under way.</summary>
    public bool InOutage
    {
        get
        {
            lock (_gate)
            {
                return _failures > 0;
            }
        }
    }

    /// <summary>Records a failure against <paramref name="endpoint"/>; returns true when it started the outage.</summary>
    public bool Failed(string endpoint, Exception error)
    {
        int failures;
        lock (_gate)
        {
            failures = ++_failures;
            if (failures == 1)
            {
                _since = _time.GetTimestamp();
            }
        }

        if (failures == 1)
        {
            OutageStarted(_logger, _what, endpoint, error.Message, error);
        }
        else
        {
            Retrying(_logger, _what, endpoint, failures, error.Message);
        }

        return failures == 1;
    }

    /// <summary>Records that <paramref name="endpoint"/> answers again; returns true when it ended an outage.</summary>
    public bool Recovered(string endpoint)
    {
        int failures;
        TimeSpan length;
        lock (_gate)
        {
            failures = _failures;
            if (failures == 0)
            {
                return false;
            }

            _failures = 0;
            length = _time.GetElapsedTime(_since);
        }

        OutageEnded(_logger, _what, endpoint, DurationText.Format(length), failures);
        return true;
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning, Message = "{What} lost its connection to {Endpoint}: {Error}; retrying")]
    private static partial void OutageStarted(ILogger logger, string what, string endpoint, string error, Exception exception);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Debug, Message = "{What}: attempt {Attempt} at {Endpoint} failed: {Error}")]
    private static partial void Retrying(ILogger logger, string what, string endpoint, int attempt, string error);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Information, Message = "{What} is connected again to {Endpoint} after an outage of {Length} ({Failures} failed attempts)")]
    private static partial void OutageEnded(ILogger logger, string what, string endpoint, string length, int failures);
}
