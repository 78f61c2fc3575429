namespace LibKv.Etcd.Grpc;

/// <summary>The gRPC status codes (grpc/doc/statuscodes.md).</summary>
internal enum GrpcStatusCode
{
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

/// <summary>A call that ended with a non-OK gRPC status, or failed on the transport.</summary>
internal sealed class GrpcException : Exception
{
    public GrpcException(GrpcStatusCode status, string detail, string endpoint, bool notSent = false, Exception? inner = null, bool answered = false)
        : base($"gRPC {status} from {endpoint}: {detail}", inner)
    {
        Answered = answered;
        Status = status;
        Detail = detail;
        Endpoint = endpoint;
        NotSent = notSent;
    }

    /// <summary>The gRPC status.</summary>
    public GrpcStatusCode Status { get; }

    /// <summary>The grpc-message (or transport error text).</summary>
    public string Detail { get; }

    /// <summary>The endpoint that answered or failed.</summary>
    public string Endpoint { get; }

    /// <summary>True when the server itself answered with this status (grpc-status or an HTTP status), not a transport failure.</summary>
    public bool Answered { get; }

    /// <summary>True when the request surely never reached the server (connection refused), so any call may be retried.</summary>
    public bool NotSent { get; }
}
