namespace LibKv.Memory;

/// <summary>
/// One in-process data space: the memory backend's "server". Stores created with the same endpoint name share
/// one; all state is guarded by <see cref="Gate"/> and notifications are posted, never run, under it.
/// </summary>
internal sealed class MemorySpace
{
    private static readonly Dictionary<string, MemorySpace> s_named = new(StringComparer.Ordinal);

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _keys = new(StringComparer.Ordinal);
    private readonly PriorityQueue<string, DateTimeOffset> _expiries = new();
    private readonly List<IMemoryWatcher> _watchers = new();
    private readonly Dictionary<string, LockQueue> _locks = new(StringComparer.Ordinal);
    private readonly string? _name;
    private readonly ITimer _timer;
    private DateTimeOffset _timerDue = DateTimeOffset.MaxValue;
    private ulong _revision;
    private int _references;

    private MemorySpace(string? name, TimeProvider time)
    {
        _name = name;
        Time = time;
        _timer = time.CreateTimer(static s => ((MemorySpace)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public object Gate { get; } = new();

    public TimeProvider Time { get; }

    public static MemorySpace Acquire(string? name, TimeProvider time)
    {
        if (string.IsNullOrEmpty(name))
        {
            return new MemorySpace(null, time) { _references = 1 };
        }

        lock (s_named)
        {
            if (!s_named.TryGetValue(name, out var space))
            {
                space = new MemorySpace(name, time);
                s_named[name] = space;
            }

            space._references++;
            return space;
        }
    }

    public void Release()
    {
        if (_name is null)
        {
            _timer.Dispose();
            return;
        }

        lock (s_named)
        {
            if (--_references == 0)
            {
                s_named.Remove(_name);
                _timer.Dispose();
            }
        }
    }

    // ---- reads and writes; every method below expects Gate to be held ----

    public ulong NextRevision() => ++_revision;

    public Entry? Find(string key)
    {
        Purge();
        return _entries.GetValueOrDefault(key);
    }

    public Entry Write(string key, ReadOnlyMemory<byte> value, TimeSpan? ttl, MemoryStore? keepAliveOwner)
    {
        Purge();
        var entry = new Entry(value.ToArray(), NextRevision());
        if (ttl is { } t)
        {
            entry.Ttl = t;
            if (keepAliveOwner is null)
            {
                ScheduleExpiry(key, entry, Time.GetUtcNow() + t);
            }
            else
            {
                entry.KeepAliveOwner = keepAliveOwner;
            }
        }

        if (_entries.TryAdd(key, entry))
        {
            _keys.Add(key);
        }
        else
        {
            _entries[key] = entry;
        }

        Changed(key);
        return entry;
    }

    public bool Remove(string key)
    {
        Purge();
        return RemoveCore(key);
    }

    public List<KeyValuePair<string, Entry>> Tree(string directory, bool includeSelf)
    {
        Purge();
        var result = new List<KeyValuePair<string, Entry>>();
        if (directory.Length == 0)
        {
            foreach (var key in _keys)
            {
                result.Add(new(key, _entries[key]));
            }

            return result;
        }

        if (includeSelf && _entries.TryGetValue(directory, out var self))
        {
            result.Add(new(directory, self));
        }

        // Keys under d sort between "d/" and "d0" ('0' follows '/').
        foreach (var key in _keys.GetViewBetween(directory + "/", directory + "0"))
        {
            if (KeyPath.IsUnder(key, directory))
            {
                result.Add(new(key, _entries[key]));
            }
        }

        return result;
    }

    public IReadOnlyList<KVPair> Snapshot(string directory)
    {
        var tree = Tree(directory, includeSelf: false);
        var list = new KVPair[tree.Count];
        for (var i = 0; i < tree.Count; i++)
        {
            list[i] = tree[i].Value.ToPair(tree[i].Key);
        }

        return list;
    }

    public void AddWatcher(IMemoryWatcher watcher) => _watchers.Add(watcher);

    public void RemoveWatcher(IMemoryWatcher watcher) => _watchers.Remove(watcher);

    public LockQueue LockQueueOf(string key)
    {
        if (!_locks.TryGetValue(key, out var queue))
        {
            queue = new LockQueue();
            _locks[key] = queue;
        }

        return queue;
    }

    public void ForgetLockQueueIfIdle(string key)
    {
        if (_locks.TryGetValue(key, out var queue) && queue.Holder is null && queue.Waiters.Count == 0)
        {
            _locks.Remove(key);
        }
    }

    /// <summary>Removes the keep-alive keys of an owner whose session ended (disposed or expired), as a server does when a lease is revoked; returns what was removed.</summary>
    public List<(string Key, byte[] Value, TimeSpan Ttl)> RemoveKeepAlive(MemoryStore owner)
    {
        var owned = new List<(string, byte[], TimeSpan)>();
        foreach (var pair in _entries)
        {
            if (ReferenceEquals(pair.Value.KeepAliveOwner, owner))
            {
                owned.Add((pair.Key, pair.Value.Value, pair.Value.Ttl ?? TimeSpan.Zero));
            }
        }

        foreach (var (key, _, _) in owned)
        {
            RemoveCore(key);
        }

        return owned;
    }

    private bool RemoveCore(string key)
    {
        if (!_entries.Remove(key))
        {
            return false;
        }

        _keys.Remove(key);
        Changed(key);
        return true;
    }

    private void Changed(string key)
    {
        foreach (var watcher in _watchers)
        {
            watcher.OnChanged(this, key);
        }
    }

    private void ScheduleExpiry(string key, Entry entry, DateTimeOffset at)
    {
        entry.ExpiresAt = at;
        _expiries.Enqueue(key, at);
        if (at < _timerDue)
        {
            _timerDue = at;
            var due = at - Time.GetUtcNow();
            _timer.Change(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Removes every key whose TTL has passed; a key is readable until its expiry instant, gone from it on.</summary>
    private void Purge()
    {
        if (_expiries.Count == 0)
        {
            return;
        }

        var now = Time.GetUtcNow();
        while (_expiries.TryPeek(out var key, out var at) && at <= now)
        {
            _expiries.Dequeue();
            if (_entries.TryGetValue(key, out var entry) && entry.ExpiresAt == at)
            {
                RemoveCore(key);
            }
        }
    }

    private void OnTimer()
    {
        lock (Gate)
        {
            _timerDue = DateTimeOffset.MaxValue;
            Purge();
            if (_expiries.TryPeek(out _, out var next))
            {
                _timerDue = next;
                var due = next - Time.GetUtcNow();
                _timer.Change(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>A stored value; replaced, never mutated in place, on every write.</summary>
    internal sealed class Entry(byte[] value, ulong index)
    {
        public byte[] Value { get; } = value;

        public ulong Index { get; } = index;

        public TimeSpan? Ttl { get; set; }

        public DateTimeOffset? ExpiresAt { get; set; }

        public MemoryStore? KeepAliveOwner { get; set; }

        public KVPair ToPair(string key) => new(key, Value.Length == 0 ? Array.Empty<byte>() : (byte[])Value.Clone(), Index);
    }

    /// <summary>The holder and FIFO waiters of one lock key.</summary>
    internal sealed class LockQueue
    {
        public MemoryLocker? Holder { get; set; }

        public LinkedList<MemoryLocker.Waiter> Waiters { get; } = new();
    }
}

/// <summary>Something told of every change in a space, under its gate.</summary>
internal interface IMemoryWatcher
{
    void OnChanged(MemorySpace space, string key);
}
