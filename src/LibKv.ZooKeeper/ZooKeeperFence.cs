using LibKv.ZooKeeper.Client;
using LibKv.ZooKeeper.Jute;

namespace LibKv.ZooKeeper;

/// <summary>
/// The server-side fence of a write (<see cref="WriteOptions.IfHeld"/>): a check op on the lock holder's owner node,
/// sent in the same multi as the write, so the write applies only while that ephemeral node (and its session) lives.
/// </summary>
internal sealed class ZooKeeperFence(string ownerPath, string lockKey)
{
    /// <summary>The holder's ephemeral sequential node.</summary>
    public string OwnerPath { get; } = ownerPath;

    /// <summary>Runs <paramref name="ops"/> after the check in one multi; the results of <paramref name="ops"/> (check's removed).</summary>
    /// <exception cref="KvException">LockNotHeld when the owner node is gone; nothing was applied.</exception>
    /// <exception cref="ZooKeeperException">The first error of <paramref name="ops"/>; nothing was applied.</exception>
    public async Task<List<MultiResult>> RunAsync(ZooKeeperClient client, IReadOnlyList<MultiOp> ops, string key, CancellationToken cancellationToken)
    {
        var all = new List<MultiOp>(ops.Count + 1) { new MultiOp.CheckOp(OwnerPath, -1) };
        all.AddRange(ops);
        var results = await client.MultiAsync(all, cancellationToken).ConfigureAwait(false);
        if (results.Count > 0 && results[0].Error != ZooKeeperErrors.Ok)
        {
            throw NotHeld(key);
        }

        results.RemoveAt(0);
        foreach (var r in results)
        {
            if (r.Error != ZooKeeperErrors.Ok && r.Error != ZooKeeperErrors.RuntimeInconsistency)
            {
                throw new ZooKeeperException(r.Error, ops[0].Path);
            }
        }

        return results;
    }

    /// <summary>Runs one op fenced; its stat (null for ops without one).</summary>
    public async Task<Stat?> RunAsync(ZooKeeperClient client, MultiOp op, string key, CancellationToken cancellationToken) =>
        (await RunAsync(client, new[] { op }, key, cancellationToken).ConfigureAwait(false))[0].Stat;

    /// <summary>The error of a fenced write whose lock is no longer held at the server.</summary>
    public KvException NotHeld(string key) =>
        new(KvErrorCode.LockNotHeld, $"The write of '{key}' is fenced by the lock '{lockKey}', which is no longer held at the server (its owner node {OwnerPath} is gone); nothing was changed.", key);
}
