using System.Globalization;
using LibKv.ZooKeeper.Client;

namespace LibKv.ZooKeeper;

/// <summary>
/// A store's ZooKeeper sessions: the main one (StoreOptions.SessionTimeout) and, opened on demand, one per TTL class
/// for keep-alive keys and locks whose TTL the main session would outlast (a session of at most 2 × Ttl + 1 s).
/// </summary>
internal sealed class ZooKeeperSessions : IAsyncDisposable
{
    private readonly Func<TimeSpan, ZooKeeperClient> _open;
    private readonly object _gate = new();
    private readonly Dictionary<long, Task<ZooKeeperClient>> _classes = new();
    private bool _disposed;

    public ZooKeeperSessions(ZooKeeperClient main, Func<TimeSpan, ZooKeeperClient> open)
    {
        Main = main;
        _open = open;
        Main.Changed += change => Changed?.Invoke(Main, change);
    }

    /// <summary>The session of everything but keep-alive keys and locks of a shorter TTL class.</summary>
    public ZooKeeperClient Main { get; }

    /// <summary>A change of any of the sessions.</summary>
    public event Action<ZooKeeperClient, SessionChange>? Changed;

    /// <summary>Every session opened so far, the main one first.</summary>
    public IReadOnlyList<ZooKeeperClient> All
    {
        get
        {
            lock (_gate)
            {
                return new[] { Main }.Concat(_classes.Values.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result)).ToList();
            }
        }
    }

    /// <summary>
    /// The session that can be the lease of <paramref name="ttl"/> (its negotiated timeout ≤ 2 × Ttl + 1 s): the main
    /// one when it fits, else the TTL class's own, opened on first use. NotSupported, naming the server's
    /// minSessionTimeout, when the server grants no session that short.
    /// </summary>
    public async ValueTask<ZooKeeperClient> ForTtlAsync(TimeSpan ttl, string what, string key, CancellationToken cancellationToken)
    {
        var bound = (ttl * 2) + TimeSpan.FromSeconds(1);
        if (Main.NegotiatedTimeout > TimeSpan.Zero && Main.NegotiatedTimeout <= bound)
        {
            return Main;
        }

        // Classes of whole seconds: few sessions, each short enough for every TTL of its class.
        var requested = TimeSpan.FromSeconds(Math.Floor(bound.TotalSeconds));
        Task<ZooKeeperClient> task;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_classes.TryGetValue(requested.Ticks, out task!) || task.IsFaulted || task.IsCanceled)
            {
                task = OpenAsync(requested);
                _classes[requested.Ticks] = task;
            }
        }

        var client = await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (client.NegotiatedTimeout > bound)
        {
            throw new KvException(
                KvErrorCode.NotSupported,
                $"{what} {Seconds(ttl)} needs a ZooKeeper session timeout ≤ {Seconds(bound)}, but the server at {client.Endpoints} grants no session " +
                $"shorter than {Seconds(client.NegotiatedTimeout)} (asked for {Seconds(requested)}): its minSessionTimeout setting (2 × tickTime unless set). " +
                "Lower the server's minSessionTimeout or raise the TTL.",
                key);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        Task<ZooKeeperClient>[] classes;
        lock (_gate)
        {
            _disposed = true;
            classes = _classes.Values.ToArray();
        }

        var closing = new List<Task> { Main.DisposeAsync().AsTask() };
        foreach (var t in classes)
        {
            closing.Add(CloseAsync(t));
        }

        await Task.WhenAll(closing).ConfigureAwait(false);

        static async Task CloseAsync(Task<ZooKeeperClient> opening)
        {
            try
            {
                await (await opening.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
            }
            catch (KvException)
            {
                // It never opened.
            }
        }
    }

    private async Task<ZooKeeperClient> OpenAsync(TimeSpan sessionTimeout)
    {
        await Task.Yield();
        var client = _open(sessionTimeout);
        client.Changed += change => Changed?.Invoke(client, change);
        try
        {
            // Not bound to one caller's token: the session serves every later caller of its class.
            await client.StartAsync(CancellationToken.None).ConfigureAwait(false);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
}
