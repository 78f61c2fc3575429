using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LibKv.Hosting;

/// <summary>Connects the stores registered with <c>AddKvStore</c> while the host starts, as each registration asks.</summary>
public sealed partial class KvStoreConnector : IHostedService, IDisposable
{
    private static readonly TimeSpan s_firstRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_maxRetry = TimeSpan.FromSeconds(30);
    private readonly IServiceProvider _services;
    private readonly IEnumerable<KvStoreRegistration> _registrations;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _background = new();

    /// <summary>Created by the container.</summary>
    public KvStoreConnector(IServiceProvider services, IEnumerable<KvStoreRegistration> registrations)
    {
        _services = services;
        _registrations = registrations;
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _logger = services.GetService<ILoggerFactory>()?.CreateLogger<KvStoreConnector>() ?? NullLogger<KvStoreConnector>.Instance;
    }

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var registration in _registrations)
        {
            var store = _services.GetRequiredKeyedService<DeferredStore>(KvStoreKeys.Of(registration.Name));
            switch (registration.Startup)
            {
                case KvStoreStartup.FailHostStart:
                    await store.ConnectAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case KvStoreStartup.RetryInBackground:
                    _background.Add(RetryAsync(registration.Name, store, _stopping.Token));
                    break;
            }
        }
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_background).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose() => _stopping.Dispose();

    private async Task RetryAsync(string? name, DeferredStore store, CancellationToken stopping)
    {
        var delay = s_firstRetry;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await store.ConnectAsync(stopping).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is KvException or ObjectDisposedException)
            {
                if (e is ObjectDisposedException)
                {
                    return;
                }

                NotConnected(_logger, name ?? "(default)", delay.TotalSeconds, e.Message);
            }

            try
            {
                await Task.Delay(delay, _time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, s_maxRetry.Ticks));
        }
    }

    [LoggerMessage(EventId = 9101, Level = LogLevel.Warning, Message = "Store {Name} is not reachable yet, retrying in {Seconds} s: {Error}")]
    private static partial void NotConnected(ILogger logger, string name, double seconds, string error);
}

/// <summary>The service keys under which <c>AddKvStore</c> registers its <see cref="DeferredStore"/>s.</summary>
internal static class KvStoreKeys
{
    private const string DefaultKey = "LibKv.DefaultStore";

    public static object Of(string? name) => name is null ? DefaultKey : "LibKv.Store:" + name;
}
