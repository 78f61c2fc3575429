using LibKv.Core;

namespace LibKv.Memory;

/// <summary>A lock on one key of a memory space; waiters are served first come, first served.</summary>
internal sealed class MemoryLocker : LockerBase
{
    private readonly MemoryStore _store;
    private readonly string _fullKey;
    private LockHold? _current;
    private Waiter? _waiter;

    public MemoryLocker(MemoryStore store, string key, string fullKey, LockOptions options, TimeProvider time)
        : base(key, options, time)
    {
        _store = store;
        _fullKey = fullKey;
        store.Track(this, add: true);
    }

    internal MemoryStore Store => _store;

    /// <summary>True when this locker holds its lock in the space; call under the space's gate.</summary>
    internal bool HoldsInSpace() => _current is { IsLost: false } && ReferenceEquals(_store.Space.LockQueueOf(_fullKey).Holder, this);

    /// <summary>Ends the current hold as a lost session would, and passes the lock on.</summary>
    public void LoseHold()
    {
        var space = _store.Space;
        LockHold? hold;
        lock (space.Gate)
        {
            hold = _current;
            if (hold is null)
            {
                return;
            }

            var queue = space.LockQueueOf(_fullKey);
            if (ReferenceEquals(queue.Holder, this))
            {
                queue.Holder = null;
                _current = null;
                GrantNext(space, queue);
            }
        }

        hold.Lose();
    }

    protected override async ValueTask AcquireCoreAsync(LockHold hold, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var space = _store.Space;
        Waiter waiter;
        lock (space.Gate)
        {
            var queue = space.LockQueueOf(_fullKey);
            if (queue.Holder is null && queue.Waiters.Count == 0)
            {
                Grant(space, queue, this, hold);
                return;
            }

            waiter = new Waiter(this, hold);
            waiter.Node = queue.Waiters.AddLast(waiter);
            _waiter = waiter;
        }

        try
        {
            await using (cancellationToken.Register(static w => ((Waiter)w!).Cancel(), waiter).ConfigureAwait(false))
            {
                await waiter.Granted.Task.ConfigureAwait(false);
            }
        }
        finally
        {
            lock (space.Gate)
            {
                _waiter = null;
            }
        }
    }

    protected override ValueTask ReleaseCoreAsync(LockHold hold, CancellationToken cancellationToken)
    {
        var space = _store.Space;
        lock (space.Gate)
        {
            if (!ReferenceEquals(_current, hold))
            {
                return ValueTask.CompletedTask;
            }

            _current = null;
            var queue = space.LockQueueOf(_fullKey);
            if (ReferenceEquals(queue.Holder, this))
            {
                queue.Holder = null;
                if (LockOptions.DeleteOnUnlock)
                {
                    space.Remove(_fullKey);
                }

                GrantNext(space, queue);
            }
        }

        return ValueTask.CompletedTask;
    }

    protected override ValueTask DisposeCoreAsync()
    {
        Waiter? waiter;
        lock (_store.Space.Gate)
        {
            waiter = _waiter;
        }

        waiter?.Cancel();
        _store.Track(this, add: false);
        return ValueTask.CompletedTask;
    }

    private static void Grant(MemorySpace space, MemorySpace.LockQueue queue, MemoryLocker locker, LockHold hold)
    {
        queue.Holder = locker;
        locker._current = hold;
        hold.FencingToken = space.NextRevision();
        space.Write(locker._fullKey, locker.LockOptions.Value ?? Array.Empty<byte>(), ttl: null, keepAliveOwner: null);
    }

    private void GrantNext(MemorySpace space, MemorySpace.LockQueue queue)
    {
        while (queue.Waiters.First is { } node)
        {
            queue.Waiters.RemoveFirst();
            var waiter = node.Value;
            waiter.Node = null;
            Grant(space, queue, waiter.Locker, waiter.Hold);
            if (waiter.Granted.TrySetResult())
            {
                return;
            }

            queue.Holder = null;
            waiter.Locker._current = null;
        }

        space.ForgetLockQueueIfIdle(_fullKey);
    }

    internal sealed class Waiter(MemoryLocker locker, LockHold hold)
    {
        public MemoryLocker Locker { get; } = locker;

        public LockHold Hold { get; } = hold;

        public LinkedListNode<Waiter>? Node { get; set; }

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Cancel()
        {
            var space = Locker._store.Space;
            lock (space.Gate)
            {
                if (Node is null)
                {
                    return;
                }

                Node.List!.Remove(Node);
                Node = null;
                space.ForgetLockQueueIfIdle(Locker._fullKey);
            }

            Granted.TrySetCanceled();
        }
    }
}
