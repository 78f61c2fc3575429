using System.Buffers.Binary;

namespace LibKv.Cli.Bench.Workloads;

/// <summary>
/// Put → watch notification latency: worker i watches its own key, writes a numbered value to it and waits until its
/// watch delivers that number. N workers are N key/watch pairs.
/// </summary>
internal sealed class WatchWorkload : IWorkload
{
    private static readonly TimeSpan s_notificationTimeout = TimeSpan.FromSeconds(10);
    private Pair[] _pairs = Array.Empty<Pair>();

    public async Task SetupAsync(BenchSettings settings, IReadOnlyList<IStore> clients, CancellationToken cancellationToken)
    {
        _pairs = new Pair[settings.Concurrency];
        for (var i = 0; i < _pairs.Length; i++)
        {
            _pairs[i] = new Pair(clients[i % clients.Count], "watch/" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), Math.Max(8, settings.ValueSize));
        }

        foreach (var pair in _pairs)
        {
            await pair.StartAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask<bool> ExecuteAsync(int worker, CancellationToken cancellationToken) => _pairs[worker].RoundTripAsync(cancellationToken);

    public ValueTask DisposeAsync()
    {
        foreach (var pair in _pairs)
        {
            pair.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private sealed class Pair(IStore client, string key, int valueSize) : IObserver<KVPair?>, IDisposable
    {
        private readonly object _gate = new();
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly byte[] _value = new byte[valueSize];
        private IDisposable? _subscription;
        private long _sequence;
        private long _awaited = long.MaxValue;
        private TaskCompletionSource? _pending;
        private Exception? _error;

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            _subscription = client.Watch(key).Subscribe(this);
            await _ready.Task.WaitAsync(s_notificationTimeout, cancellationToken).ConfigureAwait(false);
        }

        public async ValueTask<bool> RoundTripAsync(CancellationToken cancellationToken)
        {
            var sequence = ++_sequence;
            var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_gate)
            {
                if (_error is not null)
                {
                    throw new KvException(KvErrorCode.Unavailable, "The watch of '" + key + "' failed: " + _error.Message, key, _error);
                }

                _awaited = sequence;
                _pending = arrived;
            }

            BinaryPrimitives.WriteInt64BigEndian(_value, sequence);
            await client.PutAsync(key, _value, cancellationToken: cancellationToken).ConfigureAwait(false);
            try
            {
                await arrived.Task.WaitAsync(s_notificationTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new KvException(KvErrorCode.Unavailable, $"No watch notification for '{key}' within {s_notificationTimeout.TotalSeconds:0}s.", key);
            }

            return true;
        }

        public void OnNext(KVPair? value)
        {
            _ready.TrySetResult();
            if (value is null || value.Value.Length < 8)
            {
                return;
            }

            var sequence = BinaryPrimitives.ReadInt64BigEndian(value.Value);
            TaskCompletionSource? done = null;
            lock (_gate)
            {
                if (sequence >= _awaited)
                {
                    done = _pending;
                    _pending = null;
                    _awaited = long.MaxValue;
                }
            }

            done?.TrySetResult();
        }

        public void OnError(Exception error)
        {
            TaskCompletionSource? pending;
            lock (_gate)
            {
                _error = error;
                pending = _pending;
            }

            _ready.TrySetException(error);
            pending?.TrySetException(error);
        }

        public void OnCompleted() => OnError(new ObjectDisposedException(key, "The watch completed."));

        public void Dispose() => _subscription?.Dispose();
    }
}
