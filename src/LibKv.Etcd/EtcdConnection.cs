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

        if (options.Tls is { Enabled: true })
        {
            // Never fall back to plaintext when TLS was asked for.
            throw new KvException(KvErrorCode.NotSupported, "The etcd backend speaks plain HTTP/2 only; StoreOptions.Tls.Enabled asks for TLS, which is not supported yet.");
        }

        Endpoints = endpoints;
        _endpoints = endpoints.Select(GrpcEndpoint.Create).ToArray();
        _transport = new GrpcTransport(options.ConnectionTimeout);
        RequestTimeout = options.RequestTimeout;
        _username = string.IsNullOrEmpty(options.Username) ? null : options.Username;
        _password = options.Password;
        _logger = logger;
        Time = options.TimeProvider ?? TimeProvider.System;
        Reachability = new EtcdReachability(logger, Time, _endpoints.Length);
        EndpointList = string.Join(", ", _endpoints.Select(e => e.Name));
    }

    /// <summary>The store's clock.</summary>
    public TimeProvider Time { get; }

    /// <summary>Whether the endpoints can be reached (connection state and outage logs).</summary>
    public EtcdReachability Reachability { get; }

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
    /// One unary call under RequestTimeout: fails over to the next endpoint on Unavailable (a <see cref="EtcdCall.Write"/>
    /// only while it surely was not sent), re-authenticates once on an invalid token, and maps every failure to
    /// <see cref="KvException"/>; a write that may have reached a server without an answer fails with OutcomeUnknown.
    /// </summary>
    public async Task<T> CallAsync<T>(string path, IMessage request, MessageParser<T> parser, string? key, EtcdCall kind, CancellationToken cancellationToken, bool singleRound = false)
        where T : class, IMessage<T>
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var timeout = new CancellationTokenSource(RequestTimeout);

        // Only link when the caller's token can fire: one registration less on the hot path.
        using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token) : timeout;
        var attempts = 0;
        var reauthenticated = false;
        var backoff = TimeSpan.FromMilliseconds(50);
        var resendable = kind != EtcdCall.Write;
        var maybeSent = false;
        Exception? last = null;
        while (true)
        {
            var endpoint = _endpoints[Volatile.Read(ref _current) % _endpoints.Length];
            string? token = null;
            var sending = false;
            long connects = 0;

            // With several endpoints a resendable call gives each attempt a slice, so a hung server does not use it all.
            using var slice = resendable ? AttemptTimeout(linked.Token) : null;
            var attemptToken = slice?.Token ?? linked.Token;
            try
            {
                token = await TokenAsync(endpoint, attemptToken).ConfigureAwait(false);
                connects = _transport.Connects.Mark(endpoint);
                sending = true;
                var result = await _transport.UnaryAsync(endpoint, path, request, parser, token, attemptToken).ConfigureAwait(false);
                Reachability.Reached(endpoint.Name);
                return result;
            }
            catch (GrpcException e) when (HasCredentials && !reauthenticated && EtcdErrors.IsTokenProblem(e))
            {
                // Refused for its token: not applied, so it may be sent again.
                reauthenticated = true;
                Interlocked.CompareExchange(ref _token, null, token);
            }
            catch (GrpcException e) when (EtcdErrors.IsRetryable(e))
            {
                var sent = sending && !e.NotSent;
                maybeSent |= sent;
                last = e;
                Advance(endpoint);
                Reachability.Failed(endpoint.Name, e, answered: e.Answered);
                if (sent && !resendable)
                {
                    // It may have reached the server (and may still be applied): never resent to another endpoint.
                    throw EtcdErrors.ToKv(e, key, EndpointList, outcomeUnknown: true);
                }

                attempts++;
                EtcdLog.CallRetry(_logger, path, endpoint.Name, e.Detail);
                EtcdMetrics.Retries.Add(1);
                if (attempts % _endpoints.Length == 0)
                {
                    if (singleRound)
                    {
                        throw EtcdErrors.ToKv(e, key, EndpointList, outcomeUnknown: kind != EtcdCall.Read && maybeSent);
                    }

                    try
                    {
                        await Task.Delay(backoff, linked.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw EtcdErrors.Timeout(RequestTimeout, key, EndpointList, last, outcomeUnknown: kind != EtcdCall.Read && maybeSent);
                    }

                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, s_maxBackoff.Ticks));
                }
            }
            catch (GrpcException e)
            {
                // The server's own answer (or a broken one after sending, which may have been applied).
                if (e.Answered)
                {
                    Reachability.Reached(endpoint.Name);
                }

                throw EtcdErrors.ToKv(e, key, EndpointList, outcomeUnknown: kind != EtcdCall.Read && (maybeSent || (sending && !e.NotSent && !e.Answered)));
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // No answer in time: whatever comes next starts on the next endpoint. A request still waiting for a
                // connection that could not be made never left.
                maybeSent |= sending && !_transport.Connects.SurelyNotConnected(endpoint, connects);
                Advance(endpoint);
                var silent = new GrpcException(GrpcStatusCode.DeadlineExceeded, "no answer in time", endpoint.Name);
                Reachability.Failed(endpoint.Name, silent, answered: false);
                if (timeout.IsCancellationRequested || slice is null)
                {
                    throw EtcdErrors.Timeout(RequestTimeout, key, EndpointList, last ?? silent, outcomeUnknown: kind != EtcdCall.Read && maybeSent);
                }

                last = silent;
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
                var call = await _transport.DuplexAsync(endpoint, path, first, parser, token, attemptToken).ConfigureAwait(false);
                Reachability.Reached(endpoint.Name);
                return call;
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
                Reachability.Failed(endpoint.Name, e, e.Answered);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Advance(endpoint);
                last = new GrpcException(GrpcStatusCode.DeadlineExceeded, "Opening the stream timed out.", endpoint.Name);
                Reachability.Failed(endpoint.Name, last, answered: false);
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

/// <summary>What a call may do when its answer does not come.</summary>
internal enum EtcdCall
{
    /// <summary>A read: sent again to any endpoint.</summary>
    Read,

    /// <summary>A write the server applies at most once however often it arrives (guarded by a compare, a lease grant or revoke): sent again to any endpoint.</summary>
    SafeWrite,

    /// <summary>A user's write: sent again only while it surely did not leave; else it fails with OutcomeUnknown.</summary>
    Write,
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
    public const string RoleGrantPermission = "/etcdserverpb.Auth/RoleGrantPermission";
    public const string Snapshot = "/etcdserverpb.Maintenance/Snapshot";
    public const string Status = "/etcdserverpb.Maintenance/Status";

    public static Task<RangeResponse> RangeAsync(this EtcdConnection c, RangeRequest r, string? key, CancellationToken ct) =>
        c.CallAsync(Range, r, RangeResponse.Parser, key, EtcdCall.Read, ct);

    public static Task<PutResponse> PutAsync(this EtcdConnection c, PutRequest r, string? key, CancellationToken ct) =>
        c.CallAsync(Put, r, PutResponse.Parser, key, EtcdCall.Write, ct);

    public static Task<DeleteRangeResponse> DeleteAsync(this EtcdConnection c, DeleteRangeRequest r, string? key, CancellationToken ct) =>
        c.CallAsync(DeleteRange, r, DeleteRangeResponse.Parser, key, EtcdCall.Write, ct);

    public static Task<TxnResponse> TxnAsync(this EtcdConnection c, TxnRequest r, string? key, EtcdCall kind, CancellationToken ct) =>
        c.CallAsync(Txn, r, TxnResponse.Parser, key, kind, ct);

    public static Task<LeaseGrantResponse> GrantAsync(this EtcdConnection c, long ttlSeconds, CancellationToken ct) =>
        c.CallAsync(LeaseGrant, new LeaseGrantRequest { TTL = ttlSeconds }, LeaseGrantResponse.Parser, null, EtcdCall.SafeWrite, ct);

    public static Task<LeaseRevokeResponse> RevokeAsync(this EtcdConnection c, long id, CancellationToken ct) =>
        c.CallAsync(LeaseRevoke, new LeaseRevokeRequest { ID = id }, LeaseRevokeResponse.Parser, null, EtcdCall.SafeWrite, ct);
}
