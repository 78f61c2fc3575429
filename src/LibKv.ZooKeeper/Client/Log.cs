using Microsoft.Extensions.Logging;

namespace LibKv.ZooKeeper.Client;

/// <summary>Source-generated log messages of the ZooKeeper client and store.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Connected to ZooKeeper {Endpoint}: session 0x{SessionId:x}, timeout {TimeoutMs} ms, new session {NewSession}")]
    public static partial void Connected(ILogger logger, string endpoint, long sessionId, int timeoutMs, bool newSession);

    [LoggerMessage(3, LogLevel.Debug, "Connecting to ZooKeeper {Endpoint} failed: {Reason}")]
    public static partial void ConnectFailed(ILogger logger, string endpoint, string reason);

    [LoggerMessage(4, LogLevel.Warning, "ZooKeeper session 0x{SessionId:x} expired; opening a new session")]
    public static partial void SessionExpired(ILogger logger, long sessionId);

    [LoggerMessage(5, LogLevel.Warning, "ZooKeeper session 0x{SessionId:x} presumed lost: no connection for {TimeoutMs} ms")]
    public static partial void SessionPresumedLost(ILogger logger, long sessionId, int timeoutMs);

    [LoggerMessage(6, LogLevel.Warning, "ZooKeeper rejected authentication (error {Error})")]
    public static partial void AuthFailed(ILogger logger, int error);

    [LoggerMessage(7, LogLevel.Debug, "Background ZooKeeper operation on {Path} failed: {Reason}")]
    public static partial void BackgroundFailed(ILogger logger, string path, string reason);

    [LoggerMessage(8, LogLevel.Debug, "Watch refresh of {Path} failed, retrying: {Reason}")]
    public static partial void WatchRetry(ILogger logger, string path, string reason);

    [LoggerMessage(9, LogLevel.Information, "Keep-alive key '{Key}' written again on the new ZooKeeper session")]
    public static partial void KeepAliveRestored(ILogger logger, string key);

    [LoggerMessage(10, LogLevel.Warning, "Keep-alive key '{Key}' could not be written again and is no longer kept alive: {Reason}")]
    public static partial void KeepAliveDropped(ILogger logger, string key, string reason);
}
