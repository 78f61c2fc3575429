using System.Reactive.Linq;
using System.Text;

namespace LibKv.Coordination;

/// <summary>
/// Leader election on any store: a lock on <c>{key}/lock</c> whose holder announces itself in <c>{key}/leader</c>, a
/// TTL key it refreshes while it leads. <see cref="Term"/> is the hold's fencing token.
/// </summary>
/// <code>
/// await using var election = new LeaderElection(store, "elections/scheduler", Environment.MachineName);
/// var leadership = await election.CampaignAsync(cancellationToken);
/// await RunAsLeaderAsync(election.Term, leadership);
/// </code>
public sealed class LeaderElection : IAsyncDisposable
{
    private static readonly TimeSpan s_defaultTtl = TimeSpan.FromSeconds(10);
    private readonly IStore _store;
    private readonly ILocker _locker;
    private readonly TimeSpan _ttl;
    private readonly byte[] _name;
    private readonly object _gate = new();
    private CancellationTokenSource? _announcing;
    private Task _announcer = Task.CompletedTask;

    /// <summary>A candidate named <paramref name="candidate"/> for the leadership of <paramref name="key"/>.</summary>
    public LeaderElection(IStore store, string key, string candidate, TimeSpan? ttl = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(candidate);
        _store = store;
        Key = KeyPath.Normalize(key);
        Candidate = candidate;
        _ttl = ttl ?? s_defaultTtl;
        if (_ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), "The TTL must be positive.");
        }

        _name = Encoding.UTF8.GetBytes(candidate);
        _locker = store.NewLock(Key + "/lock", new LockOptions { Value = _name, Ttl = _ttl, DeleteOnUnlock = true });
    }

    /// <summary>The election's key.</summary>
    public string Key { get; }

    /// <summary>This candidate's name.</summary>
    public string Candidate { get; }

    /// <summary>True while this candidate leads.</summary>
    public bool IsLeader => _locker.IsHeld;

    /// <summary>The fencing token of this leadership; 0 when not leader.</summary>
    public ulong Term => _locker.FencingToken;

    private string LeaderKey => Key + "/leader";

    /// <summary>Waits until this candidate leads; returns a token cancelled when the leadership ends (resigned, lost, disposed).</summary>
    public async ValueTask<CancellationToken> CampaignAsync(CancellationToken cancellationToken = default)
    {
        await StopAnnouncingAsync().ConfigureAwait(false);
        var lost = await _locker.LockAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await AnnounceAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await _locker.UnlockAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        var announcing = CancellationTokenSource.CreateLinkedTokenSource(lost);
        lock (_gate)
        {
            _announcing = announcing;
            _announcer = RefreshAsync(announcing.Token);
        }

        return lost;
    }

    /// <summary>Gives up the leadership (a no-op when not leader); the next candidate takes over at once.</summary>
    public async ValueTask ResignAsync(CancellationToken cancellationToken = default)
    {
        await StopAnnouncingAsync().ConfigureAwait(false);
        if (!_locker.IsHeld)
        {
            return;
        }

        await WithdrawAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _locker.UnlockAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (KvException e) when (e.Code == KvErrorCode.LockNotHeld)
        {
        }
    }

    /// <summary>The current leader's candidate name, <c>null</c> while nobody leads; emits on subscribe and on every change.</summary>
    public IObservable<string?> ObserveLeader() =>
        _store.Watch(LeaderKey).Select(p => p is null || p.Value.Length == 0 ? null : Encoding.UTF8.GetString(p.Value)).DistinctUntilChanged();

    /// <summary>Resigns when leading, then releases the lock.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await ResignAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (KvException)
        {
            // The store is unreachable: the lock and the announcement expire with their TTL.
        }
        catch (ObjectDisposedException)
        {
        }

        await _locker.DisposeAsync().ConfigureAwait(false);
    }

    private ValueTask AnnounceAsync(CancellationToken cancellationToken) =>
        _store.PutAsync(LeaderKey, _name, new WriteOptions { Ttl = _ttl }, cancellationToken);

    private async Task RefreshAsync(CancellationToken leading)
    {
        var period = TimeSpan.FromTicks(Math.Max(_ttl.Ticks / 3, TimeSpan.FromMilliseconds(100).Ticks));
        try
        {
            while (true)
            {
                await Task.Delay(period, leading).ConfigureAwait(false);
                try
                {
                    await AnnounceAsync(leading).ConfigureAwait(false);
                }
                catch (KvException)
                {
                    // Next period; the lock's own deadline decides whether leadership lasts.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        if (!_locker.IsHeld)
        {
            // Lost, not resigned: take the announcement back unless a new leader already wrote its own.
            try
            {
                await WithdrawAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is KvException or ObjectDisposedException)
            {
            }
        }
    }

    private async ValueTask WithdrawAsync(CancellationToken cancellationToken)
    {
        try
        {
            var current = await _store.GetAsync(LeaderKey, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (current.Value.AsSpan().SequenceEqual(_name))
            {
                await _store.AtomicDeleteAsync(LeaderKey, current, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (KvException e) when (e.Code is KvErrorCode.KeyNotFound or KvErrorCode.KeyModified)
        {
        }
    }

    private async ValueTask StopAnnouncingAsync()
    {
        CancellationTokenSource? announcing;
        Task announcer;
        lock (_gate)
        {
            announcing = _announcing;
            announcer = _announcer;
            _announcing = null;
        }

        if (announcing is not null)
        {
            await announcing.CancelAsync().ConfigureAwait(false);
            await announcer.ConfigureAwait(false);
            announcing.Dispose();
        }
    }
}
