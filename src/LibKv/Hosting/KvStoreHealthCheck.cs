using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LibKv.Hosting;

/// <summary>Healthy when the store answers a read within its timeout, degraded while its connection is suspended.</summary>
public sealed class KvStoreHealthCheck(DeferredStore store) : IHealthCheck
{
    private const string ProbeKey = "libkv-health-probe";

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        IStore connected;
        try
        {
            connected = await store.ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (KvException e)
        {
            return HealthCheckResult.Unhealthy($"{store.Backend} store is not connected: {e.Message}", e);
        }

        var state = await connected.States.FirstAsync().ToTask(cancellationToken).ConfigureAwait(false);
        if (state is StoreState.Closed)
        {
            return HealthCheckResult.Unhealthy($"{store.Backend} store is closed.");
        }

        try
        {
            await connected.ExistsAsync(ProbeKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (KvException e)
        {
            return state is StoreState.Suspended
                ? HealthCheckResult.Degraded($"{store.Backend} store is suspended: {e.Message}", e)
                : HealthCheckResult.Unhealthy($"{store.Backend} store does not answer: {e.Message}", e);
        }

        return state is StoreState.Suspended
            ? HealthCheckResult.Degraded($"{store.Backend} store answered, but its connection is suspended.")
            : HealthCheckResult.Healthy($"{store.Backend} store answers ({state}).");
    }
}
