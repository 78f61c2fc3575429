using Google.Protobuf;
using LibKv.Core;
using LibKv.Etcd.Protocol;

namespace LibKv.Etcd;

/// <summary>
/// etcd's lock recipe: a lease per hold, a waiter key "root/\u0001lock/key\u0001&lt;lease&gt;" on it; the lowest
/// CreateRevision owns the lock, each waiter watches only its predecessor. The fencing token is the owner's CreateRevision.
/// </summary>
internal sealed class EtcdLocker : LockerBase
{
    private readonly EtcdStore _store;
    private readonly string _prefix;
    private Task _acquiring = Task.CompletedTask;
    private HoldState? _held;

    public EtcdLocker(EtcdStore store, string key, LockOptions options, TimeProvider time)
        : base(key, options, time)
    {
        _store = store;
        _prefix = store.Keys.LockPrefix(key);
        store.Track(this, add: true);
    }

    /// <summary>The store that made this locker.</summary>
    internal EtcdStore Store => _store;

    /// <summary>The compare a fenced write adds to its Txn: the current hold's waiter key still has its CreateRevision; null when not held.</summary>
    internal Compare? FenceCompare() =>
        IsHeld && Volatile.Read(ref _held) is { } state ? EtcdStore.CompareCreate(state.WaiterKey, state.Revision) : null;

    protected override async ValueTask AcquireCoreAsync(LockHold hold, CancellationToken cancellationToken)
    {
        // A wait ends with the store: its watches complete then, and its connection goes.
        var closing = _store.ClosingToken;
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, closing);
        var attempt = AcquireUntilHeldAsync(hold, waiting.Token).AsTask();
        _acquiring = attempt;
        try
        {
            await attempt.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (closing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(EtcdStore), "The store was disposed while waiting for the lock.");
        }
    }

    private async ValueTask AcquireUntilHeldAsync(LockHold hold, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var connection = _store.Connection;
            var ttl = EtcdStore.KeptTtlSeconds(LockOptions.Ttl);
            var grantSent = Time.GetTimestamp();
            var grant = await connection.GrantAsync(ttl, cancellationToken).ConfigureAwait(false);
            var state = new HoldState(grant.ID, ByteString.CopyFromUtf8(_prefix + grant.ID.ToString("x16", System.Globalization.CultureInfo.InvariantCulture)));
            state.Renewed(grantSent, TimeSpan.FromSeconds(grant.TTL));
            _store.Keeper.Add(grant.ID, grant.TTL, reason =>
            {
                state.LeaseLost.Cancel();
                connection.Reachability.LeaseLost();

                // The server may still hold the lease (e.g. restored after a restart): revoke it so waiters need not wait out its TTL.
                _ = RevokeQuietlyAsync(state.LeaseId);
            }, loseOnDeadline: true, onRenewed: state.Renewed);
            try
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, state.LeaseLost.Token);
                try
                {
                    if (await TryAcquireAsync(state, linked.Token).ConfigureAwait(false))
                    {
                        hold.FencingToken = (ulong)state.Revision;
                        hold.State = state;
                        Volatile.Write(ref _held, state);

                        // The hold is certain until the lease's TTL after the last renewal the server confirmed.
                        state.Attach(hold);
                        StartMonitor(hold, state);
                        return;
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // The lease was lost while waiting: start over with a new one.
                }

                await CleanupAsync(state).ConfigureAwait(false);
            }
            catch
            {
                await CleanupAsync(state).ConfigureAwait(false);
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

        state.Monitor.Cancel();
        _store.Keeper.Remove(state.LeaseId);
        if (LockOptions.DeleteOnUnlock)
        {
            var txn = new TxnRequest
            {
                Compare = { EtcdStore.CompareCreate(state.WaiterKey, state.Revision) },
                Success =
                {
                    new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = _store.Keys.Full(Key) } },
                    new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = state.WaiterKey } },
                },
            };
            await _store.Connection.TxnAsync(txn, Key, EtcdCall.SafeWrite, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await _store.Connection.RevokeAsync(state.LeaseId, cancellationToken).ConfigureAwait(false);
        }
        catch (KvException e) when (EtcdErrors.IsLeaseNotFound(e))
        {
        }
    }

    protected override async ValueTask DisposeCoreAsync()
    {
        _store.Track(this, add: false);

        // A wait the closing store ended is still revoking its waiter's lease: let it finish while the connection is up,
        // so the key goes now instead of blocking the waiters behind it for a TTL.
        try
        {
            await _acquiring.WaitAsync(_store.Connection.RequestTimeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KvException or OperationCanceledException or ObjectDisposedException or TimeoutException or InvalidOperationException)
        {
        }
    }

    private async Task<bool> TryAcquireAsync(HoldState state, CancellationToken cancellationToken)
    {
        var connection = _store.Connection;
        var prefixStart = ByteString.CopyFromUtf8(_prefix);
        var prefixEnd = ByteString.CopyFromUtf8(_prefix[..^1] + "\u0002");

        // Create the waiter key (or find it, when a retried request already created it).
        var create = new TxnRequest
        {
            Compare = { EtcdStore.CompareCreate(state.WaiterKey, 0) },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = state.WaiterKey, Lease = state.LeaseId } } },
            Failure = { new RequestOp { RequestRange = new RangeRequest { Key = state.WaiterKey } } },
        };
        var created = await connection.TxnAsync(create, Key, EtcdCall.SafeWrite, cancellationToken).ConfigureAwait(false);
        state.Revision = created.Succeeded ? created.Header.Revision : created.Responses[0].ResponseRange.Kvs[0].CreateRevision;

        while (true)
        {
            // The predecessor: the newest waiter created before this one.
            var before = new RangeRequest
            {
                Key = prefixStart,
                RangeEnd = prefixEnd,
                MaxCreateRevision = state.Revision - 1,
                SortTarget = RangeRequest.Types.SortTarget.Create,
                SortOrder = RangeRequest.Types.SortOrder.Descend,
                Limit = 1,
                KeysOnly = true,
            };
            var predecessors = await connection.RangeAsync(before, Key, cancellationToken).ConfigureAwait(false);
            if (predecessors.Kvs.Count == 0)
            {
                break;
            }

            await WaitForDeleteAsync(predecessors.Kvs[0].Key, predecessors.Header.Revision + 1, cancellationToken).ConfigureAwait(false);
        }

        // Owner: write the user key, but only while the waiter key is still ours.
        var write = new TxnRequest
        {
            Compare = { EtcdStore.CompareCreate(state.WaiterKey, state.Revision) },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = _store.Keys.Full(Key), Value = ByteString.CopyFrom(LockOptions.Value ?? Array.Empty<byte>()) } } },
        };
        var written = await connection.TxnAsync(write, Key, EtcdCall.SafeWrite, CancellationToken.None).ConfigureAwait(false);
        state.WatchFrom = written.Header.Revision + 1;
        return written.Succeeded;
    }

    private async Task WaitForDeleteAsync(ByteString key, long fromRevision, CancellationToken cancellationToken)
    {
        using var watch = _store.Hub.Add(key, ByteString.Empty, fromRevision);
        await foreach (var response in watch.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (response.Canceled || response.CompactRevision > 0)
            {
                return;
            }

            foreach (var e in response.Events)
            {
                if (e.Type == Event.Types.EventType.Delete)
                {
                    return;
                }
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private void StartMonitor(LockHold hold, HoldState state)
    {
        state.LeaseLost.Token.Register(hold.Lose);
        _ = Task.Run(async () =>
        {
            // Ends with the hold (however it ends), on release, or when the store closes.
            using var monitor = CancellationTokenSource.CreateLinkedTokenSource(state.Monitor.Token, hold.Token, _store.ClosingToken);
            var token = monitor.Token;
            var from = state.WatchFrom;
            try
            {
                while (!token.IsCancellationRequested)
                {
                    using (var watch = _store.Hub.Add(state.WaiterKey, ByteString.Empty, from))
                    {
                        await foreach (var response in watch.Reader.ReadAllAsync(token).ConfigureAwait(false))
                        {
                            if (response.Canceled || response.CompactRevision > 0)
                            {
                                break;
                            }

                            foreach (var e in response.Events)
                            {
                                if (e.Type == Event.Types.EventType.Delete)
                                {
                                    hold.Lose();
                                    return;
                                }
                            }
                        }
                    }

                    // Compacted: check the waiter key directly, then watch again. While etcd is unreachable, keep
                    // trying: the lease keeper decides whether the hold is lost, which ends this loop.
                    RangeResponse check;
                    while (true)
                    {
                        try
                        {
                            check = await _store.Connection.RangeAsync(new RangeRequest { Key = state.WaiterKey }, Key, token).ConfigureAwait(false);
                            break;
                        }
                        catch (KvException e) when (e.IsTransient)
                        {
                            await Task.Delay(TimeSpan.FromMilliseconds(200), token).ConfigureAwait(false);
                        }
                    }

                    if (check.Kvs.Count == 0 || check.Kvs[0].CreateRevision != state.Revision)
                    {
                        hold.Lose();
                        return;
                    }

                    from = check.Header.Revision + 1;
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
            }
            catch (KvException)
            {
                // Not transient (e.g. Unauthorized): the waiter key can no longer be watched, so the hold cannot be vouched for.
                hold.Lose();
            }
        });
    }

    private async Task CleanupAsync(HoldState state)
    {
        _store.Keeper.Remove(state.LeaseId);
        state.Monitor.Cancel();
        await RevokeQuietlyAsync(state.LeaseId).ConfigureAwait(false);
    }

    private async Task RevokeQuietlyAsync(long leaseId)
    {
        try
        {
            using var timeout = new CancellationTokenSource(_store.Connection.RequestTimeout);
            await _store.Connection.RevokeAsync(leaseId, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KvException or OperationCanceledException or ObjectDisposedException)
        {
            // The lease expires on its own within its TTL.
        }
    }

    private sealed class HoldState(long leaseId, ByteString waiterKey)
    {
        private readonly object _gate = new();
        private LockHold? _hold;
        private (long Sent, TimeSpan ValidFor) _confirmed;

        public long LeaseId { get; } = leaseId;

        public ByteString WaiterKey { get; } = waiterKey;

        public long Revision { get; set; }

        public long WatchFrom { get; set; }

        public CancellationTokenSource LeaseLost { get; } = new();

        public CancellationTokenSource Monitor { get; } = new();

        /// <summary>A renewal (or the grant) the server confirmed: sent at <paramref name="sent"/>, for a lease of <paramref name="ttl"/>.</summary>
        public void Renewed(long sent, TimeSpan ttl)
        {
            // A little short of the TTL, so a late local timer still fires before etcd's expiry (checked every 500 ms) frees the lock.
            var validFor = ttl - TimeSpan.FromTicks(Math.Clamp(ttl.Ticks / 10, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(1).Ticks));
            LockHold? hold;
            lock (_gate)
            {
                if (sent > _confirmed.Sent)
                {
                    _confirmed = (sent, validFor);
                }

                hold = _hold;
            }

            hold?.Confirm(sent, validFor);
        }

        /// <summary>From now on every confirmed renewal extends <paramref name="hold"/>, starting with the latest one.</summary>
        public void Attach(LockHold hold)
        {
            (long Sent, TimeSpan ValidFor) confirmed;
            lock (_gate)
            {
                _hold = hold;
                confirmed = _confirmed;
            }

            hold.Confirm(confirmed.Sent, confirmed.ValidFor);
        }
    }
}
