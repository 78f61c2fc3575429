using Google.Protobuf;
using LibKv.Etcd.Grpc;
using LibKv.Etcd.Protocol;
using Microsoft.Extensions.Logging;

namespace LibKv.Etcd;

/// <summary>
/// The client side of one store: endpoints with fail-over, the auth token, the per-call timeout and the one
/// shared <see cref="GrpcTransport"/>. Typed calls live in <see cref="EtcdMethods"/>.
/// </summary>
internal sealed class EtcdConnection : IDisposable
{
    private static readonly TimeSpan s_maxBackoff = TimeSpan.FromMilliseconds(500);
    private readonly GrpcEndpoint[] _endpoints;
    private readonly GrpcTransport _transport;
    private readonly SemaphoreSlim _authLock = new(1, 1);
    private readonly string? _username;
    private readonly string? _password;
    private readonly ILogger _logger;
    private int _current;
    private string? _token;

    public EtcdConnection(StoreOptions options, ILogger logger)
    {
        var endpoints = Endpoint.ParseAll(options.Endpoints, EtcdStore.DefaultEndpoint);
        if (endpoints.FirstOrDefault(e => e.Tls) is { } tls)
        {
            throw new KvException(KvErrorCode.NotSupported, $"The etcd backend speaks plain HTTP/2 only; endpoint '{tls.Text}' asks for TLS (https), which is not supported yet.");
        }

        Endpoints = endpoints;
        _endpoints = endpoints.Select(GrpcEndpoint.Create).ToArray();
        _transport = new GrpcTransport(options.ConnectionTimeout);
        RequestTimeout = options.RequestTimeout;
        _username = string.IsNullOrEmpty(options.Username) ? null : options.Username;
        _password = options.Password;
        _logger = logger;
        EndpointList = string.Join(", ", _endpoints.Select(e => e.Name));
    }

    /// <summary>The parsed endpoints, in order.</summary>
    public IReadOnlyList<KvEndpoint> Endpoints { get; }

    /// <summary>Every endpoint, for messages.</summary>
    public string EndpointList { get; }

    /// <summary>The longest one call may take.</summary>
    public TimeSpan RequestTimeout { get; }

    /// <summary>The logger of the store.</summary>
    public ILogger Logger => _logger;

    /// <summary>True when the store authenticates (username given).</summary>
    public bool HasCredentials => _username is not null;

    /// <summary>
    /// One unary call under RequestTimeout: fails over to the next endpoint on Unavailable (writes only when the request
    /// surely was not sent), re-authenticates once on an invalid token, and maps every failure to <see cref="KvException"/>.
    /// </summary>
    public async Task<T> CallAsync<T>(string path, IMessage request, MessageParser<T> parser, string? key, bool idempotent, CancellationToken cancellationToken, bool singleRound = false)
        where T : class, IMessage<T>
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var timeout = new CancellationTokenSource(RequestTimeout);

        // Only link when the caller's token can fire: one registration less on the hot path.
        using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token) : timeout;
        var attempts = 0;
        var reauthenticated = false;
        var backoff = TimeSpan.FromMilliseconds(50);
        Exception? last = null;
        while (true)
        {
            var endpoint = _endpoints[Volatile.Read(ref _current) % _endpoints.Length];
            string? token = null;

            // With several endpoints an idempotent call gives each attempt a slice, so a hung server does not use it all.
            using var slice = idempotent ? AttemptTimeout(linked.Token) : null;
            var attemptToken = slice?.Token ?? linked.Token;
            try
            {
                token = await TokenAsync(endpoint, attemptToken).ConfigureAwait(false);
                return await _transport.UnaryAsync(endpoint, path, request, parser, token, attemptToken).ConfigureAwait(false);
            }
            catch (GrpcException e) when (HasCredentials && !reauthenticated && EtcdErrors.IsTokenProblem(e))
            {
                reauthenticated = true;
                Interlocked.CompareExchange(ref _token, null, token);
            }
            catch (GrpcException e) when (EtcdErrors.IsRetryable(e) && (idempotent || e.NotSent))
            {
                last = e;
                attempts++;
                EtcdLog.CallRetry(_logger, path, endpoint.Name, e.Detail);
                EtcdMetrics.Retries.Add(1);
                Advance(endpoint);
                if (attempts % _endpoints.Length == 0)
                {
                    if (singleRound)
                    {
                        throw EtcdErrors.ToKv(e, key, EndpointList);
                    }

                    try
                    {
                        await Task.Delay(backoff, linked.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw EtcdErrors.Timeout(RequestTimeout, key, EndpointList, last);
                    }

                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, s_maxBackoff.Ticks));
                }
            }
            catch (GrpcException e)
            {
                throw EtcdErrors.ToKv(e, key, EndpointList);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // No answer in time: whatever comes next starts on the next endpoint.
                Advance(endpoint);
                if (timeout.IsCancellationRequested || slice is null)
                {
                    throw EtcdErrors.Timeout(RequestTimeout, key, EndpointList, last);
                }

                last = new GrpcException(GrpcStatusCode.DeadlineExceeded, "no answer in time", endpoint.Name);
                EtcdLog.CallRetry(_logger, path, endpoint.Name, "no answer in time");
                EtcdMetrics.Retries.Add(1);
                attempts++;
            }
        }
    }

    /// <summary>
    /// Opens a stream on the current endpoint (the next ones when it is down), authenticated; throws
    /// <see cref="GrpcException"/> or <see cref="KvException"/> so the caller's loop can back off and retry.
    /// </summary>
    public async Task<GrpcDuplexCall<T>> OpenStreamAsync<T>(string path, IMessage first, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        using var timeout = new CancellationTokenSource(RequestTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        GrpcException? last = null;
        var reauthenticated = false;
        for (var i = 0; i < _endpoints.Length + 1; i++)
        {
            var endpoint = _endpoints[Volatile.Read(ref _current) % _endpoints.Length];
            string? token = null;
            using var slice = AttemptTimeout(linked.Token);
            var attemptToken = slice?.Token ?? linked.Token;
            try
            {
                token = await TokenAsync(endpoint, attemptToken).ConfigureAwait(false);
                return await _transport.DuplexAsync(endpoint, path, first, parser, token, attemptToken).ConfigureAwait(false);
            }
            catch (GrpcException e) when (HasCredentials && !reauthenticated && EtcdErrors.IsTokenProblem(e))
            {
                reauthenticated = true;
                Interlocked.CompareExchange(ref _token, null, token);
            }
            catch (GrpcException e) when (EtcdErrors.IsRetryable(e))
            {
                last = e;
                Advance(endpoint);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Advance(endpoint);
                last = new GrpcException(GrpcStatusCode.DeadlineExceeded, "Opening the stream timed out.", endpoint.Name);
                if (timeout.IsCancellationRequested)
                {
                    throw last;
                }
            }
        }

        throw last ?? new GrpcException(GrpcStatusCode.Unavailable, "No endpoint answered.", EndpointList);
    }

    /// <summary>Opens a server-streaming call on the current endpoint (one request, a stream of responses).</summary>
    public async Task<GrpcDuplexCall<T>> OpenServerStreamAsync<T>(string path, IMessage request, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        var call = await OpenStreamAsync(path, request, parser, cancellationToken).ConfigureAwait(false);
        call.CompleteRequest();
        return call;
    }

    /// <summary>Notes that a stream on <paramref name="endpointName"/> broke, so the next attempt tries another endpoint.</summary>
    public void ReportBroken(string endpointName)
    {
        var index = Volatile.Read(ref _current);
        if (string.Equals(_endpoints[index % _endpoints.Length].Name, endpointName, StringComparison.Ordinal))
        {
            Interlocked.CompareExchange(ref _current, (index + 1) % _endpoints.Length, index);
        }
    }

    /// <summary>Forgets <paramref name="token"/> if it is still the current one, so the next call authenticates again.</summary>
    public void ForgetToken(string? token)
    {
        if (token is not null)
        {
            Interlocked.CompareExchange(ref _token, null, token);
        }
    }

    public void Dispose()
    {
        _transport.Dispose();
        _authLock.Dispose();
    }

    private void Advance(GrpcEndpoint failed) => ReportBroken(failed.Name);

    /// <summary>With several endpoints, a token that ends one attempt after its share of RequestTimeout; else null.</summary>
    private CancellationTokenSource? AttemptTimeout(CancellationToken outer)
    {
        if (_endpoints.Length < 2)
        {
            return null;
        }

        var slice = CancellationTokenSource.CreateLinkedTokenSource(outer);
        slice.CancelAfter(RequestTimeout / _endpoints.Length);
        return slice;
    }

    private async ValueTask<string?> TokenAsync(GrpcEndpoint endpoint, CancellationToken cancellationToken)
    {
        if (!HasCredentials)
        {
            return null;
        }

        var token = Volatile.Read(ref _token);
        if (token is not null)
        {
            return token;
        }

        await _authLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _token) is { } fresh)
            {
                return fresh;
            }

            var request = new AuthenticateRequest { Name = _username, Password = _password ?? string.Empty };
            AuthenticateResponse response;
            try
            {
                response = await _transport.UnaryAsync(endpoint, EtcdMethods.Authenticate, request, AuthenticateResponse.Parser, null, cancellationToken).ConfigureAwait(false);
            }
            catch (GrpcException e) when (!EtcdErrors.IsRetryable(e))
            {
                throw EtcdErrors.ToKv(e, null, EndpointList);
            }

            EtcdLog.Authenticated(_logger, _username!, endpoint.Name);
            Volatile.Write(ref _token, response.Token);
            return response.Token;
        }
        finally
        {
            _authLock.Release();
        }
    }
}

/// <summary>etcd's gRPC method paths and typed calls.</summary>
internal static class EtcdMethods
{
    public const string Range = "/etcdserverpb.KV/Range";
    public const string Put = "/etcdserverpb.KV/Put";
    public const string DeleteRange = "/etcdserverpb.KV/DeleteRange";
    public const string Txn = "/etcdserverpb.KV/Txn";
    public const string Compact = "/etcdserverpb.KV/Compact";
    public const string Watch = "/etcdserverpb.Watch/Watch";
    public const string LeaseGrant = "/etcdserverpb.Lease/LeaseGrant";
    public const string LeaseRevoke = "/etcdserverpb.Lease/LeaseRevoke";
    public const string LeaseKeepAlive = "/etcdserverpb.Lease/LeaseKeepAlive";
    public const string Authenticate = "/etcdserverpb.Auth/Authenticate";
    public const string AuthEnable = "/etcdserverpb.Auth/AuthEnable";
    public const string UserAdd = "/etcdserverpb.Auth/UserAdd";
    public const string UserGrantRole = "/etcdserverpb.Auth/UserGrantRole";
    public const string RoleAdd = "/etcdserverpb.Auth/RoleAdd";
    public const string Snapshot = "/etcdserverpb.Maintenance/Snapshot";
    public const string Status = "/etcdserverpb.Maintenance/Status";

    public static Task<RangeResponse> RangeAsync(this EtcdConnection c, RangeRequest r, string? key, CancellationToken ct) =>
        c.CallAsync(Range, r, RangeResponse.Parser, key, idempotent: true, ct);

    public static Task<PutResponse> PutAsync(this EtcdConnection c, PutRequest r, string? key, CancellationToken ct) =>
        c.CallAsync(Put, r, PutResponse.Parser, key, idempotent: true, ct);

    public static Task<DeleteRangeResponse> DeleteAsync(this EtcdConnection c, DeleteRangeRequest r, string? key, CancellationToken ct) =>
        c.CallAsync(DeleteRange, r, DeleteRangeResponse.Parser, key, idempotent: false, ct);

    public static Task<TxnResponse> TxnAsync(this EtcdConnection c, TxnRequest r, string? key, bool idempotent, CancellationToken ct) =>
        c.CallAsync(Txn, r, TxnResponse.Parser, key, idempotent, ct);

    public static Task<LeaseGrantResponse> GrantAsync(this EtcdConnection c, long ttlSeconds, CancellationToken ct) =>
        c.CallAsync(LeaseGrant, new LeaseGrantRequest { TTL = ttlSeconds }, LeaseGrantResponse.Parser, null, idempotent: true, ct);

    public static Task<LeaseRevokeResponse> RevokeAsync(this EtcdConnection c, long id, CancellationToken ct) =>
        c.CallAsync(LeaseRevoke, new LeaseRevokeRequest { ID = id }, LeaseRevokeResponse.Parser, null, idempotent: true, ct);
}
