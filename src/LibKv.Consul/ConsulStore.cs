using System.Globalization;
using System.Net;
using System.Reactive.Linq;
using LibKv.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LibKv.Consul;

/// <summary>
/// The Consul backend (<c>consul</c>): the LibKv contract over Consul's HTTP API: KV reads, KV transactions for
/// every conditional write, sessions for TTLs and locks, blocking queries for watches.
/// </summary>
/// <code>
/// await using var store = await StoreFactory.Default.CreateAsync("consul", new StoreOptions { Endpoints = { "127.0.0.1:8500" } });
/// </code>
public sealed class ConsulStore : KvStoreBase
{
    /// <summary>The backend name.</summary>
    public const string BackendName = "consul";

    private readonly ConsulTransport _transport;
    private readonly ILogger _logger;

    /// <summary>Creates a store; use <see cref="CreateAsync"/> to also check that Consul answers.</summary>
    public ConsulStore(StoreOptions options)
        : base(options)
    {
        _logger = (Options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ConsulStore>();
        Health = new ConsulHealth(_logger, Time, SetState);
        _transport = new ConsulTransport(Options, _logger, Health);
        Client = new ConsulClient(_transport);
        Sessions = new ConsulSessions(Client, _logger, Time, Closing);
        Sessions.SessionLost += s =>
        {
            if (s.Kind != SessionKind.KeepAlive)
            {
                Health.SessionLost(restoring: false);
            }
        };
        KeepAlive = new ConsulKeepAlive(Client, Sessions, Health, _logger, Time, Closing);
    }

    /// <inheritdoc />
    public override string Backend => BackendName;

    internal ConsulClient Client { get; }

    internal ConsulSessions Sessions { get; }

    internal ILogger Logger => _logger;

    internal ConsulHealth Health { get; }

    internal ConsulKeepAlive KeepAlive { get; }

    internal TimeProvider Clock => Time;

    /// <summary>
    /// Creates a store and checks that a Consul agent answers (InvalidConfiguration naming what answered otherwise)
    /// and its cluster has a leader (Unavailable otherwise).
    /// </summary>
    public static async ValueTask<IStore> CreateAsync(StoreOptions options, CancellationToken cancellationToken = default)
    {
        var store = new ConsulStore(options);
        try
        {
            await store.Client.VerifyAsync(store.Full("libkv-probe"), cancellationToken).ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    protected override bool SupportsFencedWrites => true;

    /// <inheritdoc />
    protected override bool OwnsLocker(ILocker locker) => locker is ConsulLocker l && ReferenceEquals(l.Store, this);

    /// <summary>The ids of every session this client holds on the server (keep-alive, TTL and lock sessions).</summary>
    internal IReadOnlyCollection<string> SessionIds() => Sessions.Ids;

    internal string Full(string key) => KeyPath.Combine(Root, key);

    /// <summary>A watch saw X-Consul-Index go backwards: every watch of this store orders from its next state.</summary>
    internal void IndexWentBack() => NoteIndexReset();

    internal string? Strip(string fullKey) => KeyPath.StripRoot(Root, fullKey);

    /// <inheritdoc />
    protected override async ValueTask PutCoreAsync(string key, ReadOnlyMemory<byte> value, WriteOptions options, CancellationToken cancellationToken) =>
        await WriteAsync(key, value, options, null, atomic: false, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    protected override async ValueTask<KVPair> GetCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken)
    {
        var response = await Client.GetRawAsync(Full(key), options.Consistent, 0, cancellationToken).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound)
        {
            throw ConsulErrors.NotFound(key);
        }

        ConsulClient.EnsureSuccess(response, key);
        return new KVPair(key, response.Body, response.Index);
    }

    /// <inheritdoc />
    protected override async ValueTask DeleteCoreAsync(string key, CancellationToken cancellationToken)
    {
        var full = Full(key);
        KeepAlive.Remove(full);
        var seen = Sessions.OneShotOf(full);
        var outcome = await Client.TxnAsync([new TxnOp("check-session", full), new TxnOp("delete", full)], key, cancellationToken).ConfigureAwait(false);
        if (!outcome.Ok)
        {
            var error = outcome.Errors[0];
            if (ConsulErrors.Classify(error) != ConsulTxnFailure.SessionMismatch)
            {
                throw ConsulErrors.FromTxn(error, key);
            }

            // The key exists and a session holds it (a TTL or a lock): delete it regardless.
            outcome = await Client.TxnAsync([new TxnOp("delete", full)], key, cancellationToken).ConfigureAwait(false);
            if (!outcome.Ok)
            {
                throw ConsulErrors.FromTxn(outcome.Errors[0], key);
            }
        }

        DestroyReplaced(Sessions.ForgetOneShot(full, seen));
    }

    /// <inheritdoc />
    protected override ValueTask<bool> ExistsCoreAsync(string key, ReadOptions options, CancellationToken cancellationToken) =>
        new(ExistsFullAsync(Full(key), key, options.Consistent, cancellationToken));

    /// <inheritdoc />
    protected override async ValueTask<IReadOnlyList<KVPair>> ListCoreAsync(string directory, ReadOptions options, CancellationToken cancellationToken)
    {
        var (_, entries) = await Client.GetPrefixAsync(TreePrefix(directory), options.Consistent, 0, cancellationToken).ConfigureAwait(false);
        var list = ToPairs(entries);
        if (list.Count == 0)
        {
            // Nothing under d: an empty list when d itself exists, KeyNotFound otherwise (always for the whole store).
            if (directory.Length == 0 || !await ExistsFullAsync(Full(directory), directory, options.Consistent, cancellationToken).ConfigureAwait(false))
            {
                throw ConsulErrors.NotFound(directory);
            }
        }

        return list;
    }

    /// <inheritdoc />
    protected override async ValueTask DeleteTreeCoreAsync(string directory, CancellationToken cancellationToken)
    {
        var full = Full(directory);
        var prefix = full + "/";
        var keys = await Client.GetKeysAsync(prefix, consistent: true, cancellationToken).ConfigureAwait(false);
        if (keys.Count == 0 && !await ExistsFullAsync(full, directory, consistent: true, cancellationToken).ConfigureAwait(false))
        {
            throw ConsulErrors.NotFound(directory);
        }

        var seen = keys.Append(full).Select(k => (Key: k, Hold: Sessions.OneShotOf(k))).Where(s => s.Hold is not null).ToList();
        KeepAlive.RemoveTree(full);

        // One transaction: the subtree and the directory key go together.
        var outcome = await Client.TxnAsync([new TxnOp("delete-tree", prefix), new TxnOp("delete", full)], directory, cancellationToken).ConfigureAwait(false);
        if (!outcome.Ok)
        {
            throw ConsulErrors.FromTxn(outcome.Errors[0], directory);
        }

        foreach (var (k, hold) in seen)
        {
            DestroyReplaced(Sessions.ForgetOneShot(k, hold));
        }
    }

    /// <inheritdoc />
    protected override async ValueTask<KVPair> AtomicPutCoreAsync(string key, ReadOnlyMemory<byte> value, KVPair? previous, WriteOptions options, CancellationToken cancellationToken)
    {
        var index = await WriteAsync(key, value, options, previous, atomic: true, cancellationToken).ConfigureAwait(false);
        if (!options.KeepAlive)
        {
            KeepAlive.Remove(Full(key));
        }

        return new KVPair(key, value.ToArray(), index);
    }

    /// <inheritdoc />
    protected override async ValueTask AtomicDeleteCoreAsync(string key, KVPair previous, CancellationToken cancellationToken)
    {
        var full = Full(key);
        var seen = Sessions.OneShotOf(full);
        var outcome = await Client.TxnAsync([new TxnOp("check-index", full, Index: previous.LastIndex), new TxnOp("delete", full)], key, cancellationToken).ConfigureAwait(false);
        if (!outcome.Ok)
        {
            throw ConsulErrors.FromTxn(outcome.Errors[0], key);
        }

        KeepAlive.Remove(full);

        DestroyReplaced(Sessions.ForgetOneShot(full, seen));
    }

    /// <inheritdoc />
    protected override IObservable<KVPair?> WatchCore(string key, ReadOptions options)
    {
        var full = Full(key);
        var consistent = options.Consistent;
        return ConsulWatch.Create<KVPair?>(this, key, async (index, ct) =>
        {
            var response = await Client.GetRawAsync(full, consistent, index, ct).ConfigureAwait(false);
            if (response.Status == HttpStatusCode.NotFound)
            {
                return (response.Index, null);
            }

            ConsulClient.EnsureSuccess(response, key);
            return (response.Index, new KVPair(key, response.Body, response.Index));
        });
    }

    /// <inheritdoc />
    protected override IObservable<IReadOnlyList<KVPair>> WatchTreeCore(string directory, ReadOptions options)
    {
        var prefix = TreePrefix(directory);
        var consistent = options.Consistent;
        return ConsulWatch.Create<IReadOnlyList<KVPair>>(this, directory, async (index, ct) =>
        {
            var (response, entries) = await Client.GetPrefixAsync(prefix, consistent, index, ct).ConfigureAwait(false);
            return (response.Index, ToPairs(entries));
        });
    }

    /// <inheritdoc />
    protected override ILocker NewLockCore(string key, LockOptions options) => new ConsulLocker(this, key, options);

    /// <inheritdoc />
    protected override async ValueTask DisposeCoreAsync()
    {
        try
        {
            await Sessions.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _transport.Dispose();
        }
    }

    private static string NonceQuery() => "flags=" + ConsulClient.NewNonce().ToString(CultureInfo.InvariantCulture);

    private string TreePrefix(string directory) =>
        directory.Length == 0 ? (Root is null ? string.Empty : Root + "/") : Full(directory) + "/";

    private List<KVPair> ToPairs(List<ConsulKvEntry> entries)
    {
        var list = new List<KVPair>(entries.Count);
        foreach (var e in entries)
        {
            var key = Strip(e.Key);
            if (key is null || key.Length == 0 || key[^1] == '/')
            {
                continue;
            }

            list.Add(new KVPair(key, e.Value ?? Array.Empty<byte>(), e.ModifyIndex));
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return list;
    }

    private async Task<bool> ExistsFullAsync(string full, string key, bool consistent, CancellationToken cancellationToken)
    {
        var outcome = await Client.TxnAsync([new TxnOp("check-not-exists", full)], key, cancellationToken, consistent).ConfigureAwait(false);
        if (outcome.Ok)
        {
            return false;
        }

        return ConsulErrors.Classify(outcome.Errors[0]) == ConsulTxnFailure.Exists ? true : throw ConsulErrors.FromTxn(outcome.Errors[0], key);
    }

    /// <summary>Destroys, in the background, a one-shot session whose key a later write or delete took over.</summary>
    private void DestroyReplaced(ConsulSession? replaced)
    {
        if (replaced is not null)
        {
            Sessions.DestroyLater(replaced);
        }
    }

    /// <summary>Writes a value (conditionally when atomic) and returns its new ModifyIndex.</summary>
    private async Task<ulong> WriteAsync(string key, ReadOnlyMemory<byte> value, WriteOptions options, KVPair? previous, bool atomic, CancellationToken cancellationToken)
    {
        var full = Full(key);
        TxnOp? check = !atomic ? null : previous is null ? new TxnOp("check-not-exists", full) : new TxnOp("check-index", full, Index: previous.LastIndex);

        // A fenced write checks, first in its own transaction, that the lock key is still held by the hold's session.
        var locker = options.IfHeld as ConsulLocker;
        var fence = locker?.FenceCheck(key);
        var guard = new Fence(locker, fence, key);
        if (!atomic && !options.KeepAlive)
        {
            // A Put without keep-alive ends the key's keep-alive (an AtomicPut only once it succeeded).
            KeepAlive.Remove(full);
        }

        if (options.Ttl is { } ttl)
        {
            return await WriteWithTtlAsync(key, full, value, ttl, options.KeepAlive, check, guard, cancellationToken).ConfigureAwait(false);
        }

        var set = new TxnOp("set", full, value, Flags: ConsulClient.NewNonce());
        var body = ConsulClient.BuildTxn(guard.Ops(check is { } c ? [c, set] : [set]));
        if (body.WrittenCount > ConsulClient.MaxTxnBody)
        {
            if (fence is not null)
            {
                throw ConsulErrors.TooLargeForTxn(key, value.Length, "A fenced write");
            }

            return await WriteLargeAsync(key, full, value, previous, atomic, cancellationToken).ConfigureAwait(false);
        }

        for (var attempt = 0; ; attempt++)
        {
            var outcome = await Client.TxnAsync(body, key, cancellationToken).ConfigureAwait(false);
            if (!outcome.Ok)
            {
                throw guard.Failure(outcome.Errors[0]) ?? ConsulErrors.FromTxn(outcome.Errors[0], key);
            }

            var entry = outcome.Last!;
            var index = entry.ModifyIndex;
            if (!string.IsNullOrEmpty(entry.Session) && await Sessions.IsTtlSessionAsync(entry.Session, cancellationToken).ConfigureAwait(false))
            {
                // A write without TTL makes the key permanent: take it out of its TTL session, keeping the value just written.
                var release = await Client.TxnAsync(
                    [new TxnOp("check-index", full, Index: index), new TxnOp("unlock", full, value, Session: entry.Session, Flags: ConsulClient.NewNonce())], key, cancellationToken).ConfigureAwait(false);
                if (release.Ok)
                {
                    index = release.Last!.ModifyIndex;
                }
                else
                {
                    switch (ConsulErrors.Classify(release.Errors[0]))
                    {
                        case ConsulTxnFailure.NotFound when !atomic && attempt < 2:
                            // The TTL session expired between the two steps and took our value with it: write again.
                            continue;
                        case ConsulTxnFailure.Modified or ConsulTxnFailure.NotFound:
                            // A later write (or delete) superseded ours; our version is simply stale now.
                            break;
                        default:
                            throw ConsulErrors.FromTxn(release.Errors[0], key);
                    }
                }
            }

            DestroyReplaced(Sessions.ForgetOneShot(full, index));
            return index;
        }
    }

    private async Task<ulong> WriteWithTtlAsync(string key, string full, ReadOnlyMemory<byte> value, TimeSpan ttl, bool keepAlive, TxnOp? check, Fence guard, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var session = keepAlive
                ? await Sessions.KeepAliveAsync(ttl, cancellationToken).ConfigureAwait(false)
                : await Sessions.CreateAsync(SessionKind.OneShot, ttl, cancellationToken).ConfigureAwait(false);
            var ok = false;
            try
            {
                // Delete then lock: whatever session held the key before lets go of it, and ours now owns it.
                var lockOp = new TxnOp("lock", full, value, Session: session.Id, Flags: ConsulClient.NewNonce());
                TxnOp[] ops = check is { } c
                    ? (c.Verb == "check-not-exists" ? [c, lockOp] : [c, new TxnOp("delete", full), lockOp])
                    : [new TxnOp("delete", full), lockOp];
                var body = ConsulClient.BuildTxn(guard.Ops(ops));
                ulong index;
                if (body.WrittenCount > ConsulClient.MaxTxnBody)
                {
                    if (check is not null || guard.Check is not null)
                    {
                        throw ConsulErrors.TooLargeForTxn(key, value.Length, check is null ? "A fenced write" : "An AtomicPut with a TTL");
                    }

                    index = await PutLargeWithSessionAsync(key, full, value, session, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    var outcome = await Client.TxnAsync(body, key, cancellationToken).ConfigureAwait(false);
                    if (!outcome.Ok)
                    {
                        var error = outcome.Errors[0];
                        if (guard.Failure(error) is { } refused)
                        {
                            throw refused;
                        }

                        if (ConsulErrors.Classify(error) == ConsulTxnFailure.InvalidSession && attempt < 2)
                        {
                            // Our session was destroyed (partition, expiry): forget it and write with a new one.
                            if (keepAlive)
                            {
                                Sessions.Lose(session, "the server no longer has it");
                            }
                            else
                            {
                                Sessions.Forget(session);
                            }

                            continue;
                        }

                        throw ConsulErrors.FromTxn(error, key);
                    }

                    index = outcome.Last!.ModifyIndex;
                }

                ok = true;
                if (keepAlive)
                {
                    KeepAlive.Register(full, value, ttl);
                }
                else
                {
                    KeepAlive.Remove(full);
                }

                DestroyReplaced(keepAlive ? Sessions.ForgetOneShot(full, index) : Sessions.RecordOneShot(full, session, index));
                return index;
            }
            finally
            {
                if (!ok && !keepAlive)
                {
                    Sessions.DestroyLater(session);
                }
            }
        }
    }

    /// <summary>A value too large for a transaction body, written through the plain KV endpoint.</summary>
    private async Task<ulong> WriteLargeAsync(string key, string full, ReadOnlyMemory<byte> value, KVPair? previous, bool atomic, CancellationToken cancellationToken)
    {
        if (!atomic)
        {
            var seen = Sessions.OneShotOf(full);
            await Client.PutRawAsync(full, value, NonceQuery(), cancellationToken).ConfigureAwait(false);
            var check = await Client.TxnAsync([new TxnOp("check-session", full)], key, cancellationToken, consistentRead: true).ConfigureAwait(false);
            if (!check.Ok && ConsulErrors.CurrentSession(check.Errors[0]) is { } holder && await Sessions.IsTtlSessionAsync(holder, cancellationToken).ConfigureAwait(false))
            {
                await Client.PutRawAsync(full, value, "release=" + holder + "&" + NonceQuery(), cancellationToken).ConfigureAwait(false);
            }

            DestroyReplaced(Sessions.ForgetOneShot(full, seen));
            return 0;
        }

        // cas on the KV endpoint answers only true/false: a random flags marker identifies our write when re-read.
        var marker = ConsulClient.NewNonce();
        var query = string.Create(CultureInfo.InvariantCulture, $"cas={previous?.LastIndex ?? 0}&flags={marker}");
        var applied = await Client.PutRawAsync(full, value, query, cancellationToken).ConfigureAwait(false);
        var (response, entry) = await Client.GetEntryAsync(full, consistent: true, 0, cancellationToken).ConfigureAwait(false);
        if (!applied)
        {
            throw previous is null ? ConsulErrors.Exists(key) : entry is null ? ConsulErrors.NotFound(key) : ConsulErrors.Modified(key);
        }

        if (entry is null)
        {
            return response.Index;
        }

        if (entry.Flags != marker)
        {
            // Overwritten since: any version below the current one is stale, which is all a caller can use it for.
            return entry.ModifyIndex - 1;
        }

        DestroyReplaced(Sessions.ForgetOneShot(full, entry.ModifyIndex));
        return entry.ModifyIndex;
    }

    private async Task<ulong> PutLargeWithSessionAsync(string key, string full, ReadOnlyMemory<byte> value, ConsulSession session, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (await Client.PutRawAsync(full, value, "acquire=" + session.Id + "&" + NonceQuery(), cancellationToken).ConfigureAwait(false))
            {
                var (_, entry) = await Client.GetEntryAsync(full, consistent: true, 0, cancellationToken).ConfigureAwait(false);
                return entry?.ModifyIndex ?? 0;
            }

            // Another session holds the key: free it, then acquire again.
            await Client.TxnAsync([new TxnOp("delete", full)], key, cancellationToken).ConfigureAwait(false);
        }

        throw new KvException(KvErrorCode.KeyModified, $"Key '{key}' kept being taken by other sessions while writing it with a TTL.", key);
    }

    /// <summary>The fence of one write: the session check it puts first, and how a failure of that check reads.</summary>
    private readonly record struct Fence(ConsulLocker? Locker, TxnOp? Check, string Key)
    {
        /// <summary>The write's operations, behind the session check when fenced.</summary>
        public TxnOp[] Ops(TxnOp[] ops) => Check is { } c ? [c, .. ops] : ops;

        /// <summary>LockNotHeld when the failed operation is the session check; null otherwise.</summary>
        public KvException? Failure(ConsulTxnError error) =>
            Check is { } c && error.OpIndex == 0 && ConsulErrors.Classify(error) != ConsulTxnFailure.Denied ? Locker!.FenceFailed(c, Key, error.What) : null;
    }
}
