using LibKv.Core;
using LibKv.ZooKeeper.Client;
using LibKv.ZooKeeper.Jute;

namespace LibKv.ZooKeeper;

/// <summary>
/// ZooKeeper's lock recipe: an ephemeral sequential node per waiter under the key's lock directory in the internal
/// "%locks" namespace; the lowest sequence holds the lock, each waiter watches only its predecessor. The fencing
/// token is the owner node's czxid. The hold is lost when its node goes or its session ends (or is presumed over).
/// The session is the lease: the main one when 2 × Ttl + 1 s ≥ its negotiated timeout, else the TTL class's own.
/// </summary>
internal sealed class ZooKeeperLocker : LockerBase
{
    private const string NodePrefix = "%l-";

    private readonly ZooKeeperStore _store;
    private ZooKeeperClient? _client;
    private ZooKeeperFence? _fence;

    public ZooKeeperLocker(ZooKeeperStore store, string key, LockOptions options)
        : base(key, options, store.Clock)
    {
        _store = store;
    }

    /// <summary>The store that made this locker.</summary>
    public ZooKeeperStore Store => _store;

    /// <summary>The server-side fence of the current hold (a check of its owner node); null when not held.</summary>
    public ZooKeeperFence? Fence => IsHeld ? Volatile.Read(ref _fence) : null;

    /// <summary>The session of this locker's TTL class (the main one until the first acquire picks it).</summary>
    private ZooKeeperClient Client => Volatile.Read(ref _client) ?? _store.Client;

    protected override async ValueTask AcquireCoreAsync(LockHold hold, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _client, await _store.Sessions.ForTtlAsync(LockOptions.Ttl, "LockOptions.Ttl", Key, cancellationToken).ConfigureAwait(false));
        var dir = _store.Paths.LockDirOf(Key);
        var marker = NodePrefix + Guid.NewGuid().ToString("N") + "-";
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var session = Client.SessionToken;
            var (path, czxid) = await CreateNodeAsync(dir, marker, cancellationToken).ConfigureAwait(false);
            try
            {
                if (!await WaitForTurnAsync(dir, path, session, cancellationToken).ConfigureAwait(false))
                {
                    await DeleteNodeQuietlyAsync(path).ConfigureAwait(false);
                    continue;
                }

                await _store.PutAsync(Key, LockOptions.Value ?? Array.Empty<byte>(), null, cancellationToken).ConfigureAwait(false);
                if (session.IsCancellationRequested)
                {
                    await DeleteNodeQuietlyAsync(path).ConfigureAwait(false);
                    continue;
                }

                hold.FencingToken = (ulong)czxid;
                Volatile.Write(ref _fence, new ZooKeeperFence(path, Key));
                hold.State = Monitor(hold, path, session);

                // Certain until the session's timeout has passed since the last request the server answered.
                hold.Confirm(Client.ConfirmedSent, Client.NegotiatedTimeout);
                return;
            }
            catch
            {
                await DeleteNodeQuietlyAsync(path).ConfigureAwait(false);
                throw;
            }
        }
    }

    protected override async ValueTask ReleaseCoreAsync(LockHold hold, CancellationToken cancellationToken)
    {
        if (hold.State is not HoldState state)
        {
            return;
        }

        state.Dispose();
        Volatile.Write(ref _fence, null);
        if (cancellationToken.IsCancellationRequested)
        {
            // The hold has ended already: its node goes in the background, so nothing blocks the lock.
            _ = DeleteNodeQuietlyAsync(state.Path);
            cancellationToken.ThrowIfCancellationRequested();
        }

        using var call = _store.StartCall(ref cancellationToken);
        try
        {
            if (LockOptions.DeleteOnUnlock)
            {
                try
                {
                    await _store.DeleteAsync(Key, cancellationToken).ConfigureAwait(false);
                }
                catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound)
                {
                }
            }
        }
        finally
        {
            try
            {
                await Client.DeleteAsync(state.Path, -1, cancellationToken).ConfigureAwait(false);
            }
            catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
            {
            }
            catch (ZooKeeperException e)
            {
                throw ZooKeeperErrors.ToKvException(e.Error, Key);
            }
            catch (Exception e) when (e is KvException or OperationCanceledException)
            {
                // The hold is over either way: the node must not outlive it in a session that reconnects.
                _ = DeleteNodeQuietlyAsync(state.Path);
                if (e is OperationCanceledException && call.TimedOut)
                {
                    throw _store.CallTimedOut(Key, e);
                }

                throw;
            }
        }
    }

    /// <summary>Creates this waiter's ephemeral sequential node (parents as containers); the create is never abandoned half-way.</summary>
    private async Task<(string Path, long Czxid)> CreateNodeAsync(string dir, string marker, CancellationToken cancellationToken)
    {
        var prefix = dir + "/" + marker;
        for (var attempt = 0; attempt < 32; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                // Not cancellable: a create already sent must be seen through so its node can be removed.
                var (path, stat) = await Client.CreateAsync(prefix, ReadOnlyMemory<byte>.Empty, _store.AclFor(prefix), CreateMode.EphemeralSequential, 0, CancellationToken.None).ConfigureAwait(false);
                return (path, stat.Czxid);
            }
            catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
            {
                await _store.EnsureParentsAsync(Client, Key, prefix, cancellationToken, CreateMode.Container).ConfigureAwait(false);
            }
            catch (ZooKeeperException e)
            {
                throw ZooKeeperErrors.ToKvException(e.Error, Key);
            }
            catch (KvException e) when (e.Code == KvErrorCode.Unavailable)
            {
                // The node may exist without our knowing its name: find it by the marker later and remove it.
                _ = RemoveByMarkerAsync(dir, marker);
                throw;
            }
        }

        throw new KvException(KvErrorCode.Unavailable, $"The lock directory of '{Key}' kept vanishing.", Key);
    }

    /// <summary>Waits until our node is the lowest; false when the node or its session went and it must be created again.</summary>
    private async Task<bool> WaitForTurnAsync(string dir, string path, CancellationToken session, CancellationToken cancellationToken)
    {
        var name = path[(path.LastIndexOf('/') + 1)..];
        while (true)
        {
            if (session.IsCancellationRequested)
            {
                return false;
            }

            List<string> children;
            try
            {
                children = await Client.GetChildrenAsync(dir, cancellationToken).ConfigureAwait(false);
            }
            catch (ZooKeeperException e) when (e.Error == ZooKeeperErrors.NoNode)
            {
                return false;
            }

            var waiters = children.Where(c => c.StartsWith(NodePrefix, StringComparison.Ordinal)).OrderBy(Sequence).ThenBy(c => c, StringComparer.Ordinal).ToList();
            var index = waiters.IndexOf(name);
            if (index < 0)
            {
                return false;
            }

            if (index == 0)
            {
                return true;
            }

            var predecessor = dir + "/" + waiters[index - 1];
            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var watch = Client.AddWatch(predecessor, AddWatchMode.Persistent, e =>
            {
                if (e.Type == WatchEventType.NodeDeleted)
                {
                    signal.TrySetResult();
                }
            }, () => signal.TrySetResult());
            using var sessionRegistration = session.Register(() => signal.TrySetResult());
            try
            {
                if (await Client.ExistsAsync(predecessor, cancellationToken).ConfigureAwait(false) is null)
                {
                    continue;
                }
            }
            catch (ZooKeeperException e)
            {
                throw ZooKeeperErrors.ToKvException(e.Error, Key);
            }

            await signal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static long Sequence(string name) =>
        name.Length >= 10 && long.TryParse(name.AsSpan(name.Length - 10), out var seq) ? seq : long.MaxValue;

    /// <summary>
    /// Watches the owner node and the session; either ending loses the hold. Each answered ping extends the hold's
    /// local deadline (the session timeout from the send time of the session's last answered request), so the hold
    /// counts as lost before the server can expire the session and give the lock to another client.
    /// </summary>
    private HoldState Monitor(LockHold hold, string path, CancellationToken session)
    {
        var client = Client;
        var state = new HoldState(path);
        Action<long> confirm = _ => hold.Confirm(client.ConfirmedSent, client.NegotiatedTimeout);
        client.PingAnswered += confirm;
        state.Confirming = () => client.PingAnswered -= confirm;
        state.Watch = Client.AddWatch(path, AddWatchMode.Persistent, e =>
        {
            if (e.Type == WatchEventType.NodeDeleted)
            {
                // Off the connection's reader: LostToken callbacks are user code.
                ThreadPool.UnsafeQueueUserWorkItem(static h => h.Lose(), hold, preferLocal: false);
            }
        }, () => _ = CheckStillOwnedAsync(hold, path));
        // The session token is cancelled by the session loop, a timer or dispose, never by the connection's reader.
        state.Session = session.Register(hold.Lose);
        hold.Token.Register(() =>
        {
            state.Dispose();
            if (LostToken == hold.Token)
            {
                // Lost, not unlocked (an unlock clears the hold first): the session may only be presumed over, or the
                // local deadline passed while it lives on; remove the node so it frees the lock once we reconnect.
                _ = Task.Run(() => DeleteNodeQuietlyAsync(path));
            }
        });
        return state;
    }

    private async Task CheckStillOwnedAsync(LockHold hold, string path)
    {
        try
        {
            if (await Client.ExistsAsync(path, CancellationToken.None).ConfigureAwait(false) is null)
            {
                hold.Lose();
            }
        }
        catch (Exception e) when (e is KvException or ZooKeeperException)
        {
            // The session watch decides when it stays unreachable.
        }
    }

    /// <summary>
    /// Deletes a lock node of ours, retrying through connection loss for as long as its session may live (an orphan of
    /// a live session would block the lock for good); stops when the session changes or the store closes.
    /// </summary>
    private Task DeleteNodeQuietlyAsync(string path) =>
        RetryWhileSessionLivesAsync(async () => await Client.DeleteAsync(path, -1, CancellationToken.None).ConfigureAwait(false));

    /// <summary>Removes the node whose create reply was lost (found by its marker), retrying like <see cref="DeleteNodeQuietlyAsync"/>.</summary>
    private Task RemoveByMarkerAsync(string dir, string marker) =>
        RetryWhileSessionLivesAsync(async () =>
        {
            var children = await Client.GetChildrenAsync(dir, CancellationToken.None).ConfigureAwait(false);
            foreach (var c in children.Where(c => c.StartsWith(marker, StringComparison.Ordinal)))
            {
                await DeleteNodeQuietlyAsync(dir + "/" + c).ConfigureAwait(false);
            }
        });

    /// <summary>Runs <paramref name="cleanup"/>, retried in the background; the task completes after the first attempt (bounded by RequestTimeout).</summary>
    private Task RetryWhileSessionLivesAsync(Func<Task> cleanup)
    {
        var firstAttempt = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = LoopAsync();
        return firstAttempt.Task;

        async Task LoopAsync()
        {
            var sessionId = Client.SessionId;
            var closing = _store.ClosingToken;
            try
            {
                while (!closing.IsCancellationRequested && Client.SessionId == sessionId)
                {
                    try
                    {
                        await cleanup().ConfigureAwait(false);
                        return;
                    }
                    catch (ZooKeeperException)
                    {
                        // NoNode: nothing left to remove.
                        return;
                    }
                    catch (KvException e) when (e.Code == KvErrorCode.Unavailable)
                    {
                        firstAttempt.TrySetResult();
                        await Task.Delay(TimeSpan.FromMilliseconds(200), _store.Clock, closing).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception e) when (e is KvException or OperationCanceledException)
            {
                Log.BackgroundFailed(_store.Logger, Key, e.Message);
            }
            finally
            {
                firstAttempt.TrySetResult();
            }
        }
    }

    private sealed class HoldState(string path) : IDisposable
    {
        public string Path { get; } = path;

        public IDisposable? Watch { get; set; }

        public CancellationTokenRegistration Session { get; set; }

        public Action? Confirming { get; set; }

        public void Dispose()
        {
            Watch?.Dispose();
            Session.Dispose();
            Confirming?.Invoke();
        }
    }
}
