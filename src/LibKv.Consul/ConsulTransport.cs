using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using LibKv.Core;
using Microsoft.Extensions.Logging;

namespace LibKv.Consul;

/// <summary>A Consul HTTP answer read in full: status, X-Consul-Index and body.</summary>
internal readonly record struct ConsulResponse(HttpStatusCode Status, ulong Index, byte[] Body, string Endpoint)
{
    /// <summary>True when the answer carries X-Consul-Index or X-Consul-KnownLeader (every KV answer of a Consul agent does).</summary>
    public bool HasConsulHeaders { get; init; }

    /// <summary>The Server and Content-Type headers, to name what answered when it is not Consul.</summary>
    public string? ServerText { get; init; }

    public bool IsSuccess => (int)Status is >= 200 and < 300;
}

/// <summary>
/// One pooled, kept-alive HTTP client over the configured endpoints: sends with the ACL token, bounds every call by
/// RequestTimeout, fails over to the next endpoint when a connection cannot be made, and turns transport failures
/// into <see cref="KvErrorCode.Unavailable"/>.
/// </summary>
internal sealed partial class ConsulTransport : IDisposable
{
    /// <summary>The endpoint used when none is configured.</summary>
    public const string DefaultEndpoint = "127.0.0.1:8500";

    private static readonly MediaTypeHeaderValue s_json = new("application/json");
    private static readonly MediaTypeHeaderValue s_octets = new("application/octet-stream");
    private readonly HttpClient _http;
    private readonly Uri[] _bases;
    private readonly string _endpointNames;
    private readonly string? _token;
    private readonly ILogger _logger;
    private int _preferred;

    public ConsulTransport(StoreOptions options, ILogger logger, ConsulHealth health)
    {
        _logger = logger;
        Health = health;
        var parsed = Endpoint.ParseAll(options.Endpoints, DefaultEndpoint);

        // An https:// endpoint or Tls.Enabled turns TLS on, for every endpoint: one store never mixes the two.
        Tls = TlsSetup.For(options, parsed);
        var scheme = Tls is null ? "http://" : "https://";
        _bases = new Uri[parsed.Count];
        for (var i = 0; i < parsed.Count; i++)
        {
            var endpoint = parsed[i];
            if (Tls is not null && endpoint.Text.TrimStart().StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            {
                throw new KvException(KvErrorCode.InvalidConfiguration, $"Invalid StoreOptions.Endpoints: endpoint '{endpoint.Text}' asks for plain http, but TLS is on (an https:// endpoint or StoreOptions.Tls.Enabled); a store speaks one or the other.");
            }

            if (!Uri.TryCreate(scheme + endpoint.HostPort + "/", UriKind.Absolute, out var uri))
            {
                throw new KvException(KvErrorCode.InvalidConfiguration, $"Invalid StoreOptions.Endpoints: endpoint '{endpoint.Text}' is not a usable host:port.");
            }

            _bases[i] = uri;
        }

        _endpointNames = string.Join(", ", _bases.Select(b => b.Authority));
        _token = string.IsNullOrEmpty(options.Token) ? null : options.Token;
        RequestTimeout = options.RequestTimeout;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectionTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            MaxConnectionsPerServer = int.MaxValue,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
            AllowAutoRedirect = false,
        };
        if (Tls is not null)
        {
            // SocketsHttpHandler puts each request's host in TargetHost, so one set of options serves every endpoint.
            handler.SslOptions = Tls.ClientOptions(_bases[0].IdnHost);
        }

        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.ExpectContinue = false;
    }

    /// <summary>The TLS setup (CA check, client certificate), or null for plain HTTP.</summary>
    public TlsSetup? Tls { get; }

    /// <summary>Told of every answer and every failed endpoint: drives the store's state and outage log.</summary>
    public ConsulHealth Health { get; }

    /// <summary>How many endpoints there are.</summary>
    public int EndpointCount => _bases.Length;

    /// <summary>The endpoints, for messages.</summary>
    public string EndpointNames => _endpointNames;

    /// <summary>The bound of every non-blocking call.</summary>
    public TimeSpan RequestTimeout { get; }

    /// <summary>
    /// Sends a request to the preferred endpoint, each endpoint tried bounded by RequestTimeout (plus
    /// <paramref name="extraTime"/> for blocking queries). A request that certainly did not reach an endpoint (refused,
    /// unreachable, body not sent) moves on to the next one; so does a <paramref name="resendable"/> one (reads, session
    /// renew/destroy) that got no answer. A write that may have reached an endpoint and got no answer is never resent:
    /// it fails with an outcome-unknown <see cref="KvErrorCode.Unavailable"/>.
    /// </summary>
    public async Task<ConsulResponse> SendAsync(
        HttpMethod method,
        string pathAndQuery,
        ReadOnlyMemory<byte>? body,
        bool jsonBody,
        string? key,
        bool resendable,
        CancellationToken cancellationToken,
        TimeSpan extraTime = default,
        TimeSpan? attemptTimeout = null)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var limit = (attemptTimeout ?? RequestTimeout) + extraTime;
        var start = Volatile.Read(ref _preferred);
        Exception? last = null;
        for (var attempt = 0; attempt < _bases.Length; attempt++)
        {
            var index = (start + attempt) % _bases.Length;
            var baseUri = _bases[index];
            using var request = new HttpRequestMessage(method, new Uri(baseUri, pathAndQuery));
            request.Version = HttpVersion.Version11;
            if (_token is not null)
            {
                request.Headers.TryAddWithoutValidation("X-Consul-Token", _token);
            }

            TrackedContent? content = null;
            if (body is { } b)
            {
                content = new TrackedContent(b, jsonBody ? s_json : s_octets);
                request.Content = content;
            }

            using var timeout = new CancellationTokenSource(limit);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
                var consulIndex = 0UL;
                var consulHeaders = response.Headers.NonValidated.Contains("X-Consul-Index") || response.Headers.NonValidated.Contains("X-Consul-KnownLeader");
                if (consulHeaders && response.Headers.TryGetValues("X-Consul-Index", out var values))
                {
                    foreach (var v in values)
                    {
                        _ = ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out consulIndex);
                        break;
                    }
                }

                var bytes = await ReadBodyAsync(response.Content, linked.Token).ConfigureAwait(false);
                var answer = new ConsulResponse(response.StatusCode, consulIndex, bytes, baseUri.Authority)
                {
                    HasConsulHeaders = consulHeaders,
                    ServerText = consulHeaders ? null : Describe(response),
                };
                if (CannotServe(answer, out var notApplied) is { } trouble)
                {
                    // The agent answers but cannot serve (no cluster leader, no servers, overloaded): later calls start
                    // at the next endpoint, and a read tries it now; so does a write the agent certainly did not apply.
                    Interlocked.CompareExchange(ref _preferred, (index + 1) % _bases.Length, index);
                    var moveOn = (resendable || notApplied) && attempt < _bases.Length - 1;
                    Health.Failed(baseUri.Authority, new IOException(trouble), everyEndpoint: attempt == _bases.Length - 1);
                    if (moveOn)
                    {
                        LogEndpointDown(_logger, baseUri.Authority, trouble);
                        continue;
                    }

                    if (!resendable && !notApplied)
                    {
                        // An error such as "rpc error making call: leadership lost while committing log" does not
                        // prove the write was not applied: the raft entry may commit anyway, now or later.
                        throw KvException.Unavailable($"Consul write failed without proof it was not applied ({trouble}).", outcomeUnknown: true, key: key);
                    }

                    return answer;
                }

                if (index != start)
                {
                    Volatile.Write(ref _preferred, index);
                }

                Health.Answered(baseUri.Authority);
                return answer;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
            {
                // This endpoint failed: later calls start at the next one.
                Interlocked.CompareExchange(ref _preferred, (index + 1) % _bases.Length, index);
                if (Tls is not null && ClientCertificateRefusal(e) is { } alert)
                {
                    // The agent ended the handshake over our certificate (with TLS 1.3 this shows at the first read):
                    // it processed nothing, and every endpoint of the cluster would say the same.
                    Health.Failed(baseUri.Authority, e, everyEndpoint: attempt == _bases.Length - 1);
                    throw new KvException(
                        KvErrorCode.InvalidConfiguration,
                        $"Consul at {baseUri.Authority} refused this client's TLS certificate ({alert}): {(Tls.ClientCertificate is null ? "none was given; the agent requires one (verify_incoming_https), so set StoreOptions.Tls.CertificateFile and KeyFile" : $"'{Tls.ClientCertificate.Subject}' is not signed by a CA the agent trusts (its ca_file)")}.",
                        key,
                        e);
                }

                if (Tls is not null && IsTlsFailure(e))
                {
                    // The handshake failed, so nothing was sent. A refused certificate is a configuration error,
                    // the same on every endpoint; anything else (a plain-HTTP port, a reset) may pass elsewhere.
                    var explained = Tls.Explain(baseUri.Authority, e);
                    Health.Failed(baseUri.Authority, e, everyEndpoint: attempt == _bases.Length - 1);
                    if (explained.Code == KvErrorCode.InvalidConfiguration)
                    {
                        throw explained;
                    }

                    LogEndpointDown(_logger, baseUri.Authority, explained.Message);
                    last = new IOException(explained.Message + " (does the endpoint serve HTTPS? Consul's HTTPS API is its ports.https)", e);
                    continue;
                }

                var what = timeout.IsCancellationRequested
                    ? $"{baseUri.Authority} did not answer within {limit.TotalSeconds:0.###} s"
                    : $"the connection to {baseUri.Authority} failed: {e.Message}";
                var mayHaveArrived = !IsConnectFailure(e) && (content is null || content.Sent);
                if (mayHaveArrived && !resendable)
                {
                    // The write may have been applied, now or later (a paused server applies what it queued when it
                    // resumes): resending it elsewhere could apply it twice or after newer writes. The caller decides.
                    Health.Failed(baseUri.Authority, e, everyEndpoint: _bases.Length == 1);
                    throw KvException.Unavailable($"Consul write sent to {baseUri.Authority} got no answer ({what}; endpoints tried: {Tried(start, attempt)}).", e, outcomeUnknown: true, key);
                }

                Health.Failed(baseUri.Authority, e, everyEndpoint: attempt == _bases.Length - 1);
                LogEndpointDown(_logger, baseUri.Authority, what);
                last = new IOException(what, e);
            }
        }

        throw ConsulErrors.Unavailable($"No Consul endpoint answered (endpoints tried: {Tried(start, _bases.Length - 1)}): {last?.Message}", key, last);
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    /// <summary>500 answers of a request that failed on its way through the servers: a write among them may still be applied.</summary>
    private static readonly string[] s_inFlightFailures =
    [
        "rpc error", "leadership lost", "EOF", "timed out", "i/o timeout", "connection reset", "broken pipe", "not the leader",
    ];

    /// <summary>
    /// Why an answer says the agent cannot serve now (another endpoint may), or null; <paramref name="notApplied"/> when
    /// such an answer also proves a write was not applied (no leader to apply it, rate-limited before it was read).
    /// </summary>
    private static string? CannotServe(in ConsulResponse response, out bool notApplied)
    {
        notApplied = false;
        var code = (int)response.Status;
        if (code is not (429 or 500 or 502 or 503 or 504))
        {
            return null;
        }

        var text = System.Text.Encoding.UTF8.GetString(response.Body, 0, Math.Min(response.Body.Length, 300)).Trim();
        var noLeader = text.Contains("No cluster leader", StringComparison.OrdinalIgnoreCase) || text.Contains("No known Consul servers", StringComparison.OrdinalIgnoreCase);
        if (code == 500 && !noLeader && !s_inFlightFailures.Any(m => text.Contains(m, StringComparison.OrdinalIgnoreCase)))
        {
            // Other 500s (an invalid session TTL, a denied ACL) are the same on every endpoint.
            return null;
        }

        notApplied = code == 429 || noLeader;
        return $"{response.Endpoint} answered {code}: {(text.Length == 0 ? "no body" : text)}";
    }

    private static string Describe(HttpResponseMessage response)
    {
        var server = response.Headers.Server.Count > 0 ? "Server: " + response.Headers.Server + ", " : string.Empty;
        return server + "Content-Type: " + (response.Content.Headers.ContentType?.ToString() ?? "none");
    }

    /// <summary>The TLS alert with which a server refused the client certificate, or null.</summary>
    private static string? ClientCertificateRefusal(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            foreach (var alert in (ReadOnlySpan<string>)["alert bad certificate", "alert certificate required", "alert certificate unknown", "alert unknown ca"])
            {
                if (x.Message.Contains(alert, StringComparison.OrdinalIgnoreCase))
                {
                    return alert;
                }
            }
        }

        return null;
    }

    private static bool IsTlsFailure(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is System.Security.Authentication.AuthenticationException || x is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError })
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsConnectFailure(Exception e)
    {
        if (e is HttpRequestException h)
        {
            if (h.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.ProxyTunnelError)
            {
                return true;
            }

            return h.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostNotFound or SocketError.TimedOut };
        }

        // SocketsHttpHandler.ConnectTimeout surfaces as a cancellation with a TimeoutException inside.
        return e is OperationCanceledException { InnerException: TimeoutException };
    }

    private static async Task<byte[]> ReadBodyAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var length = content.Headers.ContentLength;
        if (length == 0)
        {
            return Array.Empty<byte>();
        }

        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            if (length is > 0 and <= int.MaxValue)
            {
                // The exact size is known: read straight into the final array, no intermediate buffer.
                var exact = new byte[length.Value];
                await stream.ReadExactlyAsync(exact, cancellationToken).ConfigureAwait(false);
                return exact;
            }

            var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
            var used = 0;
            try
            {
                while (true)
                {
                    if (used == buffer.Length)
                    {
                        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        buffer.AsSpan(0, used).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }

                    var read = await stream.ReadAsync(buffer.AsMemory(used), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return buffer.AsSpan(0, used).ToArray();
                    }

                    used += read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private string Tried(int start, int attempts)
    {
        var names = new List<string>(attempts + 1);
        for (var i = 0; i <= attempts && i < _bases.Length; i++)
        {
            names.Add(_bases[(start + i) % _bases.Length].Authority);
        }

        return string.Join(", ", names);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Consul endpoint {Endpoint} failed ({Reason}); trying the next one.")]
    private static partial void LogEndpointDown(ILogger logger, string endpoint, string reason);

    /// <summary>Request content that records whether its body was handed to the connection (so the request may have arrived).</summary>
    private sealed class TrackedContent : HttpContent
    {
        private readonly ReadOnlyMemory<byte> _body;
        private int _sent;

        public TrackedContent(ReadOnlyMemory<byte> body, MediaTypeHeaderValue type)
        {
            _body = body;
            Headers.ContentType = type;
        }

        /// <summary>True once sending of the body began.</summary>
        public bool Sent => Volatile.Read(ref _sent) != 0;

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            Volatile.Write(ref _sent, 1);
            await stream.WriteAsync(_body, cancellationToken).ConfigureAwait(false);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _body.Length;
            return true;
        }
    }
}
