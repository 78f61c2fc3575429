using Microsoft.Extensions.Logging;

namespace LibKv.Etcd;

/// <summary>The etcd backend's log messages.</summary>
internal static partial class EtcdLog
{
    [LoggerMessage(1, LogLevel.Debug, "etcd call {Path} on {Endpoint} failed, trying again: {Detail}")]
    public static partial void CallRetry(ILogger logger, string path, string endpoint, string detail);

    [LoggerMessage(3, LogLevel.Debug, "etcd {Stream} stream opened on {Endpoint}")]
    public static partial void StreamOpened(ILogger logger, string stream, string endpoint);

    [LoggerMessage(4, LogLevel.Warning, "etcd lease {LeaseId:x} was lost: {Reason}")]
    public static partial void LeaseLost(ILogger logger, long leaseId, string reason);

    [LoggerMessage(5, LogLevel.Information, "etcd watch of {Key} fell behind compaction (revision {Revision}); reading it again")]
    public static partial void WatchCompacted(ILogger logger, string key, long revision);

    [LoggerMessage(6, LogLevel.Debug, "etcd authenticated as {User} on {Endpoint}")]
    public static partial void Authenticated(ILogger logger, string user, string endpoint);

    [LoggerMessage(7, LogLevel.Warning, "etcd background work failed: {Detail}")]
    public static partial void BackgroundFailure(ILogger logger, string detail);

    [LoggerMessage(11, LogLevel.Warning, "etcd's revision went backwards from {From} to {To} (its data was lost or restored from a backup); every watch reads its key again")]
    public static partial void RevisionWentBack(ILogger logger, long from, long to);

    [LoggerMessage(8, LogLevel.Information, "etcd keep-alive key {Key} was written again on a new lease after its lease ended")]
    public static partial void KeepAliveRewritten(ILogger logger, string key);

    [LoggerMessage(9, LogLevel.Warning, "etcd keep-alive key {Key} was written by someone else after its lease ended; it is no longer kept alive")]
    public static partial void KeepAliveNotRewritten(ILogger logger, string key);

    [LoggerMessage(10, LogLevel.Debug, "etcd could not write a keep-alive key again yet, retrying: {Detail}")]
    public static partial void KeepAliveRewriteFailed(ILogger logger, string detail);
}
