namespace LibKv;

/// <summary>A store outcome other than success; <see cref="Code"/> says which.</summary>
/// <code>
/// catch (KvException e) when (e.OutcomeUnknown) { /* read the key back before deciding to write again */ }
/// </code>
public class KvException : Exception
{
    /// <summary>Creates an exception; <see cref="IsTransient"/> defaults to true for <see cref="KvErrorCode.Unavailable"/> only.</summary>
    public KvException(KvErrorCode code, string message, string? key = null, Exception? innerException = null, bool? isTransient = null, bool outcomeUnknown = false)
        : base(message, innerException)
    {
        Code = code;
        Key = key;
        IsTransient = isTransient ?? code == KvErrorCode.Unavailable;
        OutcomeUnknown = outcomeUnknown;
    }

    /// <summary>What went wrong.</summary>
    public KvErrorCode Code { get; }

    /// <summary>The key concerned, when there is one.</summary>
    public string? Key { get; }

    /// <summary>True where retrying the same call may succeed (unavailable server, timeout).</summary>
    public bool IsTransient { get; }

    /// <summary>True when a write may have reached a server without an answer: it may be applied, now or later; LibKv never resends it.</summary>
    public bool OutcomeUnknown { get; }

    /// <summary>KeyNotFound for <paramref name="key"/>.</summary>
    public static KvException NotFound(string key) => new(KvErrorCode.KeyNotFound, $"Key '{key}' not found.", key);

    /// <summary>KeyExists for <paramref name="key"/>.</summary>
    public static KvException Exists(string key) => new(KvErrorCode.KeyExists, $"Key '{key}' already exists.", key);

    /// <summary>KeyModified for <paramref name="key"/>.</summary>
    public static KvException Modified(string key) => new(KvErrorCode.KeyModified, $"Key '{key}' was modified since the given version.", key);

    /// <summary>Unavailable (transient); <paramref name="outcomeUnknown"/> when a write may have reached the server.</summary>
    public static KvException Unavailable(string message, Exception? innerException = null, bool outcomeUnknown = false, string? key = null) =>
        new(KvErrorCode.Unavailable, outcomeUnknown ? message + " The write may have been applied (outcome unknown); it was not resent." : message, key, innerException, isTransient: true, outcomeUnknown: outcomeUnknown);
}
