namespace LibKv;

/// <summary>A store outcome other than success; <see cref="Code"/> says which.</summary>
public class KvException : Exception
{
    /// <summary>Creates an exception; <see cref="IsTransient"/> defaults to true for <see cref="KvErrorCode.Unavailable"/> only.</summary>
    public KvException(KvErrorCode code, string message, string? key = null, Exception? innerException = null, bool? isTransient = null)
        : base(message, innerException)
    {
        Code = code;
        Key = key;
        IsTransient = isTransient ?? code == KvErrorCode.Unavailable;
    }

    /// <summary>What went wrong.</summary>
    public KvErrorCode Code { get; }

    /// <summary>The key concerned, when there is one.</summary>
    public string? Key { get; }

    /// <summary>True where retrying the same call may succeed (unavailable server, timeout).</summary>
    public bool IsTransient { get; }

    internal static KvException NotFound(string key) => new(KvErrorCode.KeyNotFound, $"Key '{key}' not found.", key);

    internal static KvException Exists(string key) => new(KvErrorCode.KeyExists, $"Key '{key}' already exists.", key);

    internal static KvException Modified(string key) => new(KvErrorCode.KeyModified, $"Key '{key}' was modified since the given version.", key);
}
