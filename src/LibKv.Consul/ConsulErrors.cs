using System.Net;
using System.Text;

namespace LibKv.Consul;

/// <summary>How a failed transaction operation failed, read from Consul's error text.</summary>
internal enum ConsulTxnFailure
{
    /// <summary>The key does not exist (check-index, check-session, get).</summary>
    NotFound,

    /// <summary>The key's ModifyIndex is not the one given.</summary>
    Modified,

    /// <summary>The key exists (check-not-exists).</summary>
    Exists,

    /// <summary>Another session holds the key's lock.</summary>
    LockHeld,

    /// <summary>The session named in the operation no longer exists.</summary>
    InvalidSession,

    /// <summary>The key is held by a different session than the one checked.</summary>
    SessionMismatch,

    /// <summary>The ACL token may not do this.</summary>
    Denied,

    /// <summary>Anything else.</summary>
    Other,
}

/// <summary>The one place where Consul's HTTP statuses and error texts become <see cref="KvErrorCode"/>s.</summary>
internal static class ConsulErrors
{
    /// <summary>The server setting that bounds session TTLs from below.</summary>
    public const string SessionTtlMinSetting = "session_ttl_min";

    /// <summary>Maps a non-success answer to the exception the contract names.</summary>
    public static KvException FromStatus(HttpStatusCode status, byte[] body, string? key, string endpoint)
    {
        var text = BodyText(body);
        var code = (int)status;
        return code switch
        {
            403 => new KvException(KvErrorCode.Unauthorized, $"Consul at {endpoint} denied the request (403: {text}); check StoreOptions.Token.", key),
            401 => new KvException(KvErrorCode.Unauthorized, $"Consul at {endpoint} denied the request (401: {text}).", key),
            404 => new KvException(KvErrorCode.KeyNotFound, key is null ? $"Not found at {endpoint}: {text}" : $"Key '{key}' not found.", key),
            413 => new KvException(KvErrorCode.ValueTooLarge, $"Consul at {endpoint} refused the value as too large (413: {text}).", key),
            429 or 502 or 503 or 504 => Unavailable($"Consul at {endpoint} is unavailable ({code}: {text}).", key),
            400 when text.Contains("Invalid Session TTL", StringComparison.OrdinalIgnoreCase) => SessionTtl(text, key),
            500 when text.Contains("Invalid Session TTL", StringComparison.OrdinalIgnoreCase) => SessionTtl(text, key),
            500 when text.Contains("Permission denied", StringComparison.OrdinalIgnoreCase) || text.Contains("ACL not found", StringComparison.OrdinalIgnoreCase)
                => new KvException(KvErrorCode.Unauthorized, $"Consul at {endpoint} denied the request ({text}); check StoreOptions.Token.", key),
            400 => new KvException(KvErrorCode.InvalidConfiguration, $"Consul at {endpoint} rejected the request (400: {text}).", key),
            >= 500 => Unavailable($"Consul at {endpoint} failed the request ({code}: {text}).", key),
            _ => new KvException(KvErrorCode.Unavailable, $"Consul at {endpoint} answered {code}: {text}", key, isTransient: false),
        };
    }

    /// <summary>Reads which way a transaction operation failed.</summary>
    public static ConsulTxnFailure Classify(ConsulTxnError error)
    {
        var what = error.What;
        if (what.Contains("Permission denied", StringComparison.OrdinalIgnoreCase))
        {
            return ConsulTxnFailure.Denied;
        }

        if (what.Contains("invalid session", StringComparison.OrdinalIgnoreCase))
        {
            return ConsulTxnFailure.InvalidSession;
        }

        if (what.Contains("doesn't exist", StringComparison.Ordinal) || what.Contains("does not exist", StringComparison.Ordinal))
        {
            return ConsulTxnFailure.NotFound;
        }

        if (what.Contains("current modify index", StringComparison.Ordinal))
        {
            return ConsulTxnFailure.Modified;
        }

        if (what.Contains("lock is already held", StringComparison.Ordinal) || what.Contains("failed to lock", StringComparison.Ordinal))
        {
            return ConsulTxnFailure.LockHeld;
        }

        if (what.Contains("current session", StringComparison.Ordinal))
        {
            return ConsulTxnFailure.SessionMismatch;
        }

        if (what.EndsWith("exists", StringComparison.Ordinal))
        {
            return ConsulTxnFailure.Exists;
        }

        return ConsulTxnFailure.Other;
    }

    /// <summary>The session id quoted in a session-check failure ("current session \"id\" != ..."), or null.</summary>
    public static string? CurrentSession(ConsulTxnError error)
    {
        const string marker = "current session \"";
        var what = error.What;
        var start = what.IndexOf(marker, StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }

        start += marker.Length;
        var end = what.IndexOf('"', start);
        return end > start ? what[start..end] : null;
    }

    /// <summary>The exception for a transaction failure the caller does not handle itself.</summary>
    public static KvException FromTxn(ConsulTxnError error, string key) => Classify(error) switch
    {
        ConsulTxnFailure.NotFound => NotFound(key),
        ConsulTxnFailure.Modified => Modified(key),
        ConsulTxnFailure.Exists => Exists(key),
        ConsulTxnFailure.Denied => new KvException(KvErrorCode.Unauthorized, $"Consul denied the operation on '{key}' ({error.What}); check StoreOptions.Token.", key),
        _ => new KvException(KvErrorCode.Unavailable, $"Consul transaction on '{key}' failed: {error.What}", key, isTransient: false),
    };

    /// <summary>KeyNotFound for a key.</summary>
    public static KvException NotFound(string key) => new(KvErrorCode.KeyNotFound, $"Key '{key}' not found.", key);

    /// <summary>KeyExists for a key.</summary>
    public static KvException Exists(string key) => new(KvErrorCode.KeyExists, $"Key '{key}' already exists.", key);

    /// <summary>KeyModified for a key.</summary>
    public static KvException Modified(string key) => new(KvErrorCode.KeyModified, $"Key '{key}' was modified since the given version.", key);

    /// <summary>An unreachable server, a timeout or a lost connection.</summary>
    public static KvException Unavailable(string message, string? key = null, Exception? inner = null) =>
        new(KvErrorCode.Unavailable, message, key, inner, isTransient: true);

    /// <summary>A session TTL the server does not accept.</summary>
    public static KvException SessionTtl(string serverText, string? key) =>
        new(KvErrorCode.NotSupported,
            $"Consul does not accept this TTL ({serverText.Trim()}): session TTLs must be at least the server's '{SessionTtlMinSetting}' (10s by default). Use a longer TTL or lower {SessionTtlMinSetting} on the servers.",
            key);

    /// <summary>Unauthorized for a session the token may not create: TTL keys, keep-alive keys and locks all need one.</summary>
    public static KvException NoSessionRights(KvException denied) =>
        new(KvErrorCode.Unauthorized,
            $"{denied.Message.TrimEnd('.')}. TTL keys, keep-alive keys and locks need a Consul session: the token needs session rights (session_prefix \"\" {{ policy = \"write\" }}, or session write on this agent's node) besides key rights under the store's Root.",
            denied.Key,
            denied);

    /// <summary>A value too large for the transaction endpoint where no other way exists.</summary>
    public static KvException TooLargeForTxn(string key, int length, string what = "An AtomicPut with a TTL") =>
        new(KvErrorCode.NotSupported,
            $"{what} needs a Consul transaction, and a {length}-byte value does not fit in one (txn_max_req_len, 512 KiB of base64 JSON by default).",
            key);

    private static string BodyText(byte[] body)
    {
        if (body.Length == 0)
        {
            return "no body";
        }

        var text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 512)).Trim();
        return text.Length == 0 ? "no body" : text;
    }
}
