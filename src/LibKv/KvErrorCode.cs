namespace LibKv;

/// <summary>What went wrong in a store call.</summary>
public enum KvErrorCode
{
    /// <summary>The key does not exist.</summary>
    KeyNotFound,
    /// <summary>An atomic create found the key already there.</summary>
    KeyExists,
    /// <summary>An atomic write found the key at another version.</summary>
    KeyModified,
    /// <summary>The backend cannot honour this request; the message says why.</summary>
    NotSupported,
    /// <summary>The server could not be reached, timed out or dropped the connection; a retry may succeed.</summary>
    Unavailable,
    /// <summary>The server refused the credentials or the permission.</summary>
    Unauthorized,
    /// <summary>The value is over the backend's size limit; nothing was written.</summary>
    ValueTooLarge,
    /// <summary>An unlock was asked of a locker that does not hold its lock.</summary>
    LockNotHeld,
    /// <summary>No backend of that name is registered.</summary>
    UnknownBackend,
    /// <summary>The store options are invalid.</summary>
    InvalidConfiguration,
}
