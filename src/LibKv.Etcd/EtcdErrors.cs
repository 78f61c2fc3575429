using LibKv.Etcd.Grpc;

namespace LibKv.Etcd;

/// <summary>The one table that maps etcd's gRPC errors to <see cref="KvErrorCode"/>.</summary>
internal static class EtcdErrors
{
    // First match wins; a null text matches any message of that status.
    private static readonly (GrpcStatusCode Status, string? Text, KvErrorCode Code, bool Transient)[] s_table =
    {
        (GrpcStatusCode.Unavailable, null, KvErrorCode.Unavailable, true),
        (GrpcStatusCode.DeadlineExceeded, null, KvErrorCode.Unavailable, true),
        (GrpcStatusCode.Cancelled, null, KvErrorCode.Unavailable, true),
        (GrpcStatusCode.Aborted, null, KvErrorCode.Unavailable, true),
        (GrpcStatusCode.PermissionDenied, null, KvErrorCode.Unauthorized, false),
        (GrpcStatusCode.Unauthenticated, null, KvErrorCode.Unauthorized, false),
        (GrpcStatusCode.InvalidArgument, "request is too large", KvErrorCode.ValueTooLarge, false),
        (GrpcStatusCode.InvalidArgument, "user name is empty", KvErrorCode.Unauthorized, false),
        (GrpcStatusCode.InvalidArgument, "authentication failed", KvErrorCode.Unauthorized, false),
        (GrpcStatusCode.InvalidArgument, "invalid auth token", KvErrorCode.Unauthorized, false),
        (GrpcStatusCode.InvalidArgument, "permission denied", KvErrorCode.Unauthorized, false),
        (GrpcStatusCode.InvalidArgument, "auth store is old", KvErrorCode.Unavailable, true),
        (GrpcStatusCode.ResourceExhausted, "larger than max", KvErrorCode.ValueTooLarge, false),
        (GrpcStatusCode.ResourceExhausted, "too large", KvErrorCode.ValueTooLarge, false),
        (GrpcStatusCode.ResourceExhausted, null, KvErrorCode.Unavailable, true),
        (GrpcStatusCode.FailedPrecondition, "auth", KvErrorCode.Unauthorized, false),
        (GrpcStatusCode.FailedPrecondition, null, KvErrorCode.InvalidConfiguration, false),
        (GrpcStatusCode.Unimplemented, null, KvErrorCode.NotSupported, false),
        (GrpcStatusCode.NotFound, "lease not found", KvErrorCode.KeyNotFound, false),
        (GrpcStatusCode.Unknown, "leader changed", KvErrorCode.Unavailable, true),
        (GrpcStatusCode.Unknown, "timed out", KvErrorCode.Unavailable, true),
    };

    /// <summary>True for failures where another attempt (same or next endpoint) may succeed.</summary>
    public static bool IsRetryable(GrpcException e) => Lookup(e) is { Code: KvErrorCode.Unavailable, Transient: true };

    /// <summary>True when the token expired or is invalid, so re-authenticating may help.</summary>
    public static bool IsTokenProblem(GrpcException e) => e.Status == GrpcStatusCode.Unauthenticated || IsTokenProblem(e.Detail);

    /// <summary>True when an error text (a status detail or a watch's cancel reason) says the token expired or is invalid.</summary>
    public static bool IsTokenProblem(string detail) =>
        detail.Contains("invalid auth token", StringComparison.OrdinalIgnoreCase)
        || detail.Contains("auth store is old", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when a request named a lease the server no longer has (revoked or expired).</summary>
    public static bool IsLeaseNotFound(Exception e) =>
        (e as GrpcException ?? e.InnerException as GrpcException) is { Status: GrpcStatusCode.NotFound } g
        && g.Detail.Contains("lease not found", StringComparison.OrdinalIgnoreCase);

    /// <summary>Maps a gRPC failure to the contract's exception.</summary>
    /// <remarks><paramref name="outcomeUnknown"/>: a write that may have reached a server; it applies to Unavailable only.</remarks>
    public static KvException ToKv(GrpcException e, string? key, string endpoints, bool outcomeUnknown = false)
    {
        var (code, transient) = Lookup(e) ?? (KvErrorCode.Unavailable, false);
        if (code == KvErrorCode.Unavailable && outcomeUnknown)
        {
            return KvException.Unavailable($"etcd did not confirm the write (endpoint {e.Endpoint}; endpoints: {endpoints}): {e.Detail}.", e, outcomeUnknown: true, key);
        }

        var message = code == KvErrorCode.Unavailable
            ? $"etcd is unavailable (endpoints tried: {endpoints}): {e.Detail}"
            : $"etcd answered {e.Status}: {e.Detail}";
        return new KvException(code, message, key, e, transient);
    }

    /// <summary>The outcome of a call that ran past RequestTimeout; <paramref name="outcomeUnknown"/> for a write that may have reached a server.</summary>
    public static KvException Timeout(TimeSpan timeout, string? key, string endpoints, Exception? last, bool outcomeUnknown = false) =>
        KvException.Unavailable($"etcd did not answer within {timeout.TotalSeconds:0.###} s (endpoints tried: {endpoints}){(last is null ? "" : ": " + (last is GrpcException g ? g.Detail : last.Message))}.", last, outcomeUnknown, key);

    private static (KvErrorCode Code, bool Transient)? Lookup(GrpcException e)
    {
        foreach (var rule in s_table)
        {
            if (rule.Status == e.Status && (rule.Text is null || e.Detail.Contains(rule.Text, StringComparison.OrdinalIgnoreCase)))
            {
                return (rule.Code, rule.Transient);
            }
        }

        return null;
    }
}
