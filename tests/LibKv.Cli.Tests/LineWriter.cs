using System.Text;

namespace LibKv.Cli.Tests;

/// <summary>A thread-safe writer that keeps what was written and lets a test wait for a line.</summary>
internal sealed class LineWriter : TextWriter
{
    private readonly object _gate = new();
    private readonly StringBuilder _text = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override Encoding Encoding => Encoding.UTF8;

    public string Text
    {
        get
        {
            lock (_gate)
            {
                return _text.ToString();
            }
        }
    }

    public string[] Lines => Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    public override void Write(char value) => Append(value.ToString());

    public override void Write(string? value) => Append(value ?? "");

    public override void WriteLine(string? value) => Append((value ?? "") + "\n");

    /// <summary>Waits until a line satisfies <paramref name="match"/>; fails after a generous deadline.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                changed = _changed.Task;
            }

            var line = Lines.FirstOrDefault(match);
            if (line is not null)
            {
                return line;
            }

            try
            {
                await changed.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("No matching line; output so far:\n" + Text);
            }
        }
    }

    private void Append(string value)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _text.Append(value);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }
}
