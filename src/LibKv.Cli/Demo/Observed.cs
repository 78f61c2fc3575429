namespace LibKv.Cli.Demo;

/// <summary>The latest state seen by a watch, and a way to wait until it satisfies a condition.</summary>
internal sealed class Observed<T>
{
    private readonly object _gate = new();
    private T _current;
    private bool _hasValue;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _error;

    public Observed(T initial) => _current = initial;

    public T Current
    {
        get
        {
            lock (_gate)
            {
                return _current;
            }
        }
    }

    public void Set(T value)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _current = value;
            _hasValue = true;
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    public void Fail(Exception error)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _error = error;
            changed = _changed;
        }

        changed.TrySetResult();
    }

    /// <summary>A task that completes at the next change (or at once after an error).</summary>
    public Task NextChange
    {
        get
        {
            lock (_gate)
            {
                return _error is null ? _changed.Task : Task.CompletedTask;
            }
        }
    }

    /// <summary>Waits until a state satisfies <paramref name="condition"/>; throws TimeoutException with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public async Task<T> WaitForAsync(Func<T, bool> condition, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (true)
        {
            Task next;
            lock (_gate)
            {
                if (_error is not null)
                {
                    throw new InvalidOperationException($"The watch failed while waiting for {what}: {_error.Message}", _error);
                }

                if (_hasValue && condition(_current))
                {
                    return _current;
                }

                next = _changed.Task;
            }

            try
            {
                await next.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Gave up waiting for {what} after {Durations.Format(timeout)}.");
            }
        }
    }
}
