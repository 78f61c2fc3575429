namespace LibKv.Cluster.Tests.Workload;

/// <summary>Logs when a watched key disappears and comes back (diagnostics for the keep-alive check).</summary>
public sealed class PresenceLog : IObserver<KVPair?>, IDisposable
{
    private readonly string _key;
    private readonly Action<string> _log;
    private readonly IDisposable _subscription;
    private bool? _present;

    public PresenceLog(IStore store, string key, Action<string> log)
    {
        _key = key;
        _log = log;
        _subscription = store.Watch(key).Subscribe(this);
    }

    public void OnNext(KVPair? value)
    {
        var present = value is not null;
        if (_present != present)
        {
            _log($"{_key} {(present ? "present" : "GONE")}");
        }

        _present = present;
    }

    public void OnError(Exception error) => _log($"watch of {_key} failed: {error.Message}");

    public void OnCompleted()
    {
    }

    public void Dispose() => _subscription.Dispose();
}
