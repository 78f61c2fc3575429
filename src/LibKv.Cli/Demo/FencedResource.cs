namespace LibKv.Cli.Demo;

/// <summary>A resource guarded by a lock that rejects writes carrying a fencing token older than one it has seen.</summary>
internal sealed class FencedResource
{
    private ulong _highest;

    public ulong Highest => _highest;

    /// <summary>True (and remembered) when <paramref name="token"/> is at least the highest seen; false for a stale holder.</summary>
    public bool TryWrite(ulong token)
    {
        if (token < _highest)
        {
            return false;
        }

        _highest = token;
        return true;
    }
}
