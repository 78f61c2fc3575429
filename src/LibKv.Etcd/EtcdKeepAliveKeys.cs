using LibKv.Etcd.Protocol;

namespace LibKv.Etcd;

/// <summary>
/// The keep-alive keys of a store and their last values: when the lease behind some of them ends (revoked, expired)
/// they are written again on a new lease, in the background, until that succeeds or the store closes.
/// </summary>
internal sealed class EtcdKeepAliveKeys
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Registration> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<Registration> _pending = new();
    private readonly Func<Registration, CancellationToken, Task<bool>> _rewrite;
    private readonly Action _allWritten;
    private readonly Action<string> _failed;
    private readonly CancellationToken _closing;
    private Task _rewriter = Task.CompletedTask;
    private Registration? _writing;

    /// <param name="rewrite">Writes one key again on a new lease; false when it no longer needs it.</param>
    /// <param name="allWritten">Runs when every key waiting to be written again has been.</param>
    /// <param name="failed">Runs (with the error) when a rewrite attempt failed and will be retried.</param>
    /// <param name="closing">Ends the rewrites with the store.</param>
    public EtcdKeepAliveKeys(Func<Registration, CancellationToken, Task<bool>> rewrite, Action allWritten, Action<string> failed, CancellationToken closing)
    {
        _rewrite = rewrite;
        _allWritten = allWritten;
        _failed = failed;
        _closing = closing;
    }

    /// <summary>Records that <paramref name="key"/> was written with keep-alive on <paramref name="lease"/>.</summary>
    public Registration Register(string key, ReadOnlyMemory<byte> value, TimeSpan ttl, long lease)
    {
        var registration = new Registration(key, value.ToArray(), ttl) { Lease = lease };
        lock (_gate)
        {
            if (_keys.Remove(key, out var old))
            {
                _pending.Remove(old);
            }

            _keys[key] = registration;
        }

        return registration;
    }

    /// <summary>Ends the keep-alive of <paramref name="key"/> (a plain Put, a Delete).</summary>
    public void Forget(string key)
    {
        lock (_gate)
        {
            if (_keys.Remove(key, out var old))
            {
                _pending.Remove(old);
            }
        }
    }

    /// <summary>Ends the keep-alive of <paramref name="directory"/> and of every key under it (a DeleteTree).</summary>
    public void ForgetTree(string directory)
    {
        lock (_gate)
        {
            foreach (var key in _keys.Keys.Where(k => k == directory || k.StartsWith(directory + "/", StringComparison.Ordinal)).ToArray())
            {
                _pending.Remove(_keys[key]);
                _keys.Remove(key);
            }
        }
    }

    /// <summary>Waits for a rewrite in progress to end (the store is closing).</summary>
    public async Task StopAsync()
    {
        Task rewriter;
        lock (_gate)
        {
            rewriter = _rewriter;
        }

        try
        {
            await rewriter.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>True while <paramref name="registration"/> is the key's current keep-alive.</summary>
    public bool IsCurrent(Registration registration)
    {
        lock (_gate)
        {
            return _keys.TryGetValue(registration.Key, out var current) && ReferenceEquals(current, registration);
        }
    }

    /// <summary>True while some key waits to be written again.</summary>
    public bool HasPending
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count > 0 || _writing is not null;
            }
        }
    }

    /// <summary>The lease <paramref name="lease"/> ended: writes its keys again; true when it carried any.</summary>
    public bool LeaseLost(long lease)
    {
        lock (_gate)
        {
            var any = false;
            foreach (var registration in _keys.Values)
            {
                if (registration.Lease == lease)
                {
                    any |= _pending.Add(registration);
                }
            }

            if (any && _rewriter.IsCompleted && !_closing.IsCancellationRequested)
            {
                _rewriter = Task.Run(RewriteAllAsync);
            }

            return any;
        }
    }

    private async Task RewriteAllAsync()
    {
        var backoff = new Backoff();
        while (!_closing.IsCancellationRequested)
        {
            Registration? next;
            lock (_gate)
            {
                next = _pending.FirstOrDefault();
                if (next is null)
                {
                    // Under the gate: a LeaseLost that comes now sees this task completed and starts another.
                    _rewriter = Task.CompletedTask;
                    _allWritten();
                    return;
                }

                // Taken out first: a loss of the new lease while it is written puts it back.
                _pending.Remove(next);
                _writing = next;
            }

            try
            {
                await _rewrite(next, _closing).ConfigureAwait(false);
                backoff.Reset();
                lock (_gate)
                {
                    _writing = null;
                }
            }
            catch (Exception e) when (_closing.IsCancellationRequested && e is OperationCanceledException or ObjectDisposedException or KvException)
            {
                return;
            }
            catch (Exception e) when (e is KvException or OperationCanceledException)
            {
                lock (_gate)
                {
                    _writing = null;
                    if (_keys.TryGetValue(next.Key, out var current) && ReferenceEquals(current, next))
                    {
                        _pending.Add(next);
                    }
                }

                _failed(e.Message);
                try
                {
                    await backoff.WaitAsync(_closing).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>One keep-alive key: its last value, its TTL and the lease it is on now.</summary>
    internal sealed class Registration(string key, byte[] value, TimeSpan ttl)
    {
        public string Key { get; } = key;

        public byte[] Value { get; } = value;

        public TimeSpan Ttl { get; } = ttl;

        public long Lease { get; set; }
    }
}
