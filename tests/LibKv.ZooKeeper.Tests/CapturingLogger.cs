using Microsoft.Extensions.Logging;

namespace LibKv.ZooKeeper.Tests;

/// <summary>A logger factory that keeps every line (level, category, message) for assertions.</summary>
public sealed class CapturingLogger : ILoggerFactory, ILoggerProvider
{
    private readonly List<(LogLevel Level, string Category, string Message)> _lines = new();

    public IReadOnlyList<(LogLevel Level, string Category, string Message)> Lines
    {
        get
        {
            lock (_lines)
            {
                return _lines.ToArray();
            }
        }
    }

    /// <summary>Every line, one per row, for failure messages.</summary>
    public string Dump() => string.Join("\n", Lines.Select(l => $"{l.Level} {l.Category}: {l.Message}"));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLogger owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (owner._lines)
            {
                owner._lines.Add((logLevel, category, formatter(state, exception)));
            }
        }
    }
}
