namespace LibKv;

/// <summary>Options of one write.</summary>
public sealed class WriteOptions
{
    /// <summary>When set, the key expires this long after its last write unless <see cref="KeepAlive"/> holds it.</summary>
    public TimeSpan? Ttl { get; init; }

    /// <summary>With <see cref="Ttl"/>: the store refreshes the key until it is disposed (service registration).</summary>
    public bool KeepAlive { get; init; }

    /// <summary>
    /// A fenced write: applied only if this locker (of the same store) still holds its lock at the server, in the same
    /// transaction; otherwise <see cref="KvErrorCode.LockNotHeld"/> and nothing changes.
    /// </summary>
    public ILocker? IfHeld { get; init; }
}

/// <summary>Options of one read or watch.</summary>
public sealed class ReadOptions
{
    /// <summary>True (the default) for a linearizable read; false allows a possibly stale, cheaper read.</summary>
    public bool Consistent { get; init; } = true;
}

/// <summary>Options of a lock.</summary>
public sealed class LockOptions
{
    /// <summary>The value the lock key holds while the lock is held; empty when null.</summary>
    public byte[]? Value { get; init; }

    /// <summary>The lease of a hold: a holder that stops renewing loses the lock within about twice this.</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>When true, unlocking deletes the key; otherwise it keeps its value.</summary>
    public bool DeleteOnUnlock { get; init; }
}
