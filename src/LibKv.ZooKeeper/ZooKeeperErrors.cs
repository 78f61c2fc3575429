namespace LibKv.ZooKeeper;

/// <summary>ZooKeeper's error codes (KeeperException.Code) and their one mapping to <see cref="KvErrorCode"/>.</summary>
internal static class ZooKeeperErrors
{
    public const int Ok = 0;
    public const int SystemError = -1;
    public const int RuntimeInconsistency = -2;
    public const int ConnectionLoss = -4;
    public const int MarshallingError = -5;
    public const int Unimplemented = -6;
    public const int OperationTimeout = -7;
    public const int BadArguments = -8;
    public const int NoNode = -101;
    public const int NoAuth = -102;
    public const int BadVersion = -103;
    public const int NoChildrenForEphemerals = -108;
    public const int NodeExists = -110;
    public const int NotEmpty = -111;
    public const int SessionExpired = -112;
    public const int InvalidAcl = -114;
    public const int AuthFailed = -115;
    public const int SessionMoved = -118;
    public const int NotReadOnly = -119;
    public const int NoWatcher = -121;
    public const int RequestTimeout = -122;
    public const int QuotaExceeded = -125;
    public const int Throttled = -127;

    private static readonly Dictionary<int, (KvErrorCode Code, string Name)> s_table = new()
    {
        [SystemError] = (KvErrorCode.Unavailable, "SystemError"),
        [ConnectionLoss] = (KvErrorCode.Unavailable, "ConnectionLoss"),
        [MarshallingError] = (KvErrorCode.Unavailable, "MarshallingError"),
        [Unimplemented] = (KvErrorCode.NotSupported, "Unimplemented"),
        [OperationTimeout] = (KvErrorCode.Unavailable, "OperationTimeout"),
        [BadArguments] = (KvErrorCode.NotSupported, "BadArguments"),
        [NoNode] = (KvErrorCode.KeyNotFound, "NoNode"),
        [NoAuth] = (KvErrorCode.Unauthorized, "NoAuth"),
        [BadVersion] = (KvErrorCode.KeyModified, "BadVersion"),
        [NoChildrenForEphemerals] = (KvErrorCode.NotSupported, "NoChildrenForEphemerals"),
        [NodeExists] = (KvErrorCode.KeyExists, "NodeExists"),
        [NotEmpty] = (KvErrorCode.KeyModified, "NotEmpty"),
        [SessionExpired] = (KvErrorCode.Unavailable, "SessionExpired"),
        [InvalidAcl] = (KvErrorCode.Unauthorized, "InvalidACL"),
        [AuthFailed] = (KvErrorCode.Unauthorized, "AuthFailed"),
        [SessionMoved] = (KvErrorCode.Unavailable, "SessionMoved"),
        [NotReadOnly] = (KvErrorCode.Unavailable, "NotReadOnly"),
        [RequestTimeout] = (KvErrorCode.Unavailable, "RequestTimeout"),
        [QuotaExceeded] = (KvErrorCode.ValueTooLarge, "QuotaExceeded"),
        [Throttled] = (KvErrorCode.Unavailable, "Throttled"),
    };

    public static KvException NotFound(string key) => new(KvErrorCode.KeyNotFound, $"Key '{key}' not found.", key);

    public static KvException Exists(string key) => new(KvErrorCode.KeyExists, $"Key '{key}' already exists.", key);

    public static KvException Modified(string key) => new(KvErrorCode.KeyModified, $"Key '{key}' was modified since the given version.", key);

    /// <summary>A transient Unavailable; <paramref name="outcomeUnknown"/> when a write was sent and its answer never came.</summary>
    public static KvException Unavailable(string message, Exception? inner = null, bool outcomeUnknown = false, string? key = null) =>
        KvException.Unavailable(message, inner, outcomeUnknown, key);

    /// <summary>The name of a ZooKeeper error code, for messages.</summary>
    public static string Name(int error) => s_table.TryGetValue(error, out var e) ? e.Name : $"error {error}";

    /// <summary>Maps a server error to a <see cref="KvException"/>; Unavailable ones are transient.</summary>
    public static KvException ToKvException(int error, string? key, string? detail = null)
    {
        var (code, name) = s_table.TryGetValue(error, out var e) ? e : (KvErrorCode.Unavailable, $"error {error}");
        var message = $"ZooKeeper answered {name} ({error})" + (key is null ? "" : $" for '{key}'") + (detail is null ? "." : $": {detail}");
        return new KvException(code, message, key);
    }
}

/// <summary>A non-zero error in a ZooKeeper reply; the store maps it through <see cref="ZooKeeperErrors"/>.</summary>
internal sealed class ZooKeeperException : Exception
{
    public ZooKeeperException(int error, string path)
        : base($"ZooKeeper answered {ZooKeeperErrors.Name(error)} ({error}) for '{path}'.")
    {
        Error = error;
        Path = path;
    }

    public int Error { get; }

    public string Path { get; }
}
