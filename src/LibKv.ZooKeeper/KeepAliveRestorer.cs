using LibKv.ZooKeeper.Client;

namespace LibKv.ZooKeeper;

/// <summary>Writes the keep-alive keys of a lost session again, with their last values, on the session that follows it.</summary>
internal sealed class KeepAliveRestorer(ZooKeeperStore store, KeepAliveKeys keys)
{
    private readonly ZooKeeperStore _store = store;
    private readonly KeepAliveKeys _keys = keys;

    /// <summary>
    /// Writes every keep-alive key of <paramref name="client"/>'s session again with its last value, retrying while
    /// the server is unreachable, until it is written, its keep-alive ended, the session changed again or the store closed.
    /// </summary>
    public async Task RestoreAsync(ZooKeeperClient client)
    {
        var sessionId = client.SessionId;
        var closing = _store.ClosingToken;
        foreach (var entry in _keys.Of(client))
        {
            while (!closing.IsCancellationRequested && _keys.IsCurrent(entry) && client.SessionId == sessionId)
            {
                try
                {
                    var ct = closing;
                    using var call = _store.StartCall(ref ct);
                    await _store.WriteKeepAliveAsync(client, entry.Key, entry.Value, ct).ConfigureAwait(false);
                    Log.KeepAliveRestored(_store.Logger, entry.Key);
                    if (!_keys.IsCurrent(entry))
                    {
                        // Ended while it was being written: take it back out (a Delete through this store won).
                        await RemoveIfOursAsync(client, entry.Key, ct).ConfigureAwait(false);
                    }

                    break;
                }
                catch (Exception e) when (e is KvException { Code: KvErrorCode.Unavailable } or ZooKeeperException { Error: ZooKeeperErrors.ConnectionLoss or ZooKeeperErrors.SessionExpired } or OperationCanceledException)
                {
                    Log.BackgroundFailed(_store.Logger, entry.Key, e.Message);
                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(200), _store.Clock, closing).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
                catch (Exception e) when (e is KvException or ZooKeeperException)
                {
                    // What retrying cannot fix (keys under it now, no rights): the keep-alive ends.
                    Log.KeepAliveDropped(_store.Logger, entry.Key, e.Message);
                    _keys.Restore(entry.Key, entry, null);
                    break;
                }
            }
        }
    }

    private async Task RemoveIfOursAsync(ZooKeeperClient client, string key, CancellationToken cancellationToken)
    {
        var path = _store.Paths.PathOf(key);
        var node = await client.TryGetDataAsync(path, cancellationToken).ConfigureAwait(false);
        if (node is not null && node.Stat.EphemeralOwner == client.SessionId && _keys.Get(key) is null)
        {
            try
            {
                await client.DeleteAsync(path, node.Stat.Version, cancellationToken).ConfigureAwait(false);
            }
            catch (ZooKeeperException)
            {
                // Changed meanwhile: someone else's write stands.
            }
        }
    }
}
