using System.Text;
using Microsoft.Extensions.Configuration;

namespace LibKv.Configuration;

/// <summary>
/// Configuration from the keys under a prefix of a store: <c>{Prefix}/A/B</c> becomes <c>A:B</c> with the value as UTF-8
/// text; with ReloadOnChange, a watch keeps it current and fires the reload token.
/// </summary>
public sealed class KvConfigurationProvider : ConfigurationProvider, IDisposable
{
    private static readonly TimeSpan s_firstRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_maxRetry = TimeSpan.FromSeconds(30);
    private readonly KvConfigurationSource _source;
    private readonly string _prefix;
    private readonly CancellationTokenSource _disposing = new();
    private readonly object _gate = new();
    private IStore? _store;
    private IDisposable? _watch;
    private Task? _retry;
    private bool _disposed;

    /// <summary>A provider of <paramref name="source"/>.</summary>
    public KvConfigurationProvider(KvConfigurationSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _prefix = KeyPath.NormalizeDirectory(source.Prefix ?? string.Empty, nameof(KvConfigurationSource.Prefix));
    }

    /// <summary>The error of the last failed attempt to reach the store, or null.</summary>
    public Exception? LastError { get; private set; }

    /// <summary>
    /// Reads the prefix. Configuration loads synchronously by design, so this is the one place LibKv waits on a store
    /// call from a synchronous method (bounded by the store's ConnectionTimeout and RequestTimeout).
    /// </summary>
    public override void Load()
    {
        try
        {
            Task.Run(() => LoadAsync(_disposing.Token)).GetAwaiter().GetResult();
        }
        catch (Exception e) when (_source.Optional && e is KvException or OperationCanceledException)
        {
            LastError = e;
            StartRetry();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        IStore? store;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            store = _store;
            _watch?.Dispose();
        }

        _disposing.Cancel();
        if (store is not null)
        {
            // Configuration providers are disposed synchronously; the store's own dispose finishes in the background.
            _ = store.DisposeAsync().AsTask();
        }

        _disposing.Dispose();
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        var store = await StoreAsync(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<KVPair> pairs;
        try
        {
            pairs = await store.ListAsync(_prefix, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound)
        {
            pairs = Array.Empty<KVPair>();
        }

        Data = ToData(pairs);
        LastError = null;
        if (_source.ReloadOnChange)
        {
            StartWatch(store);
        }
    }

    private async Task<IStore> StoreAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_store is not null)
            {
                return _store;
            }
        }

        var factory = _source.Factory ?? StoreFactory.Default;
        var created = await factory.CreateAsync(_source.Store, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (!_disposed && _store is null)
            {
                _store = created;
                return created;
            }
        }

        await created.DisposeAsync().ConfigureAwait(false);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _store!;
    }

    private void StartWatch(IStore store)
    {
        lock (_gate)
        {
            if (_disposed || _watch is not null)
            {
                return;
            }

            _watch = store.WatchTree(_prefix).Subscribe(
                pairs =>
                {
                    var data = ToData(pairs);
                    if (!Same(data, Data))
                    {
                        Data = data;
                        OnReload();
                    }
                },
                error => LastError = error);
        }
    }

    private void StartRetry()
    {
        lock (_gate)
        {
            if (_disposed || _retry is not null)
            {
                return;
            }

            _retry = Task.Run(() => RetryAsync(_disposing.Token));
        }
    }

    private async Task RetryAsync(CancellationToken cancellationToken)
    {
        var time = _source.Store.TimeProvider ?? TimeProvider.System;
        var delay = s_firstRetry;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                await LoadAsync(cancellationToken).ConfigureAwait(false);
                OnReload();
                lock (_gate)
                {
                    _retry = null;
                }

                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (KvException e)
            {
                LastError = e;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, s_maxRetry.Ticks));
        }
    }

    private Dictionary<string, string?> ToData(IReadOnlyList<KVPair> pairs)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var skip = _prefix.Length == 0 ? 0 : _prefix.Length + 1;
        foreach (var pair in pairs)
        {
            data[pair.Key[skip..].Replace('/', ':')] = Encoding.UTF8.GetString(pair.Value);
        }

        return data;
    }

    private static bool Same(IDictionary<string, string?> a, IDictionary<string, string?> b) =>
        a.Count == b.Count && a.All(p => b.TryGetValue(p.Key, out var v) && string.Equals(v, p.Value, StringComparison.Ordinal));
}
