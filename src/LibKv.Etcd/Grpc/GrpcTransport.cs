using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace LibKv.Etcd.Grpc;

/// <summary>
/// A minimal gRPC client on <see cref="SocketsHttpHandler"/>: HTTP/2 without TLS by prior knowledge, one handler
/// (and so one set of multiplexed connections) per store, unary, server-streaming and bidirectional calls.
/// </summary>
internal sealed class GrpcTransport : IDisposable
{
    private readonly HttpMessageInvoker _invoker;

    public GrpcTransport(TimeSpan connectTimeout)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = Connects.ConnectAsync,
            EnableMultipleHttp2Connections = true,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            KeepAlivePingDelay = TimeSpan.FromSeconds(10),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            ConnectTimeout = connectTimeout,
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        _invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    /// <summary>What became of the connections to each server (to tell a request that never left).</summary>
    public ConnectTracker Connects { get; } = new();

    /// <summary>Sends one request message and reads one response message.</summary>
    public async Task<TResponse> UnaryAsync<TResponse>(GrpcEndpoint endpoint, string path, IMessage request, MessageParser<TResponse> parser, string? token, CancellationToken cancellationToken)
        where TResponse : class, IMessage<TResponse>
    {
        using var message = CreateRequest(endpoint, path, token);
        var content = new ByteArrayContent(GrpcFraming.Frame(request));
        content.Headers.ContentType = GrpcFraming.ContentType;
        message.Content = content;

        HttpResponseMessage response;
        try
        {
            response = await _invoker.SendAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw TransportError(e, endpoint);
        }

        using (response)
        {
            CheckResponseHeaders(response, endpoint);
            try
            {
                var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                var header = new byte[GrpcFraming.HeaderSize];
                var result = await GrpcFraming.ReadAsync(stream, parser, header, endpoint.Name, cancellationToken).ConfigureAwait(false);
                if (result is not null && await GrpcFraming.ReadAsync(stream, parser, header, endpoint.Name, cancellationToken).ConfigureAwait(false) is not null)
                {
                    throw new GrpcException(GrpcStatusCode.Internal, "A unary call answered more than one message.", endpoint.Name);
                }

                if (StatusOf(response.TrailingHeaders, endpoint) is { } error)
                {
                    throw error;
                }

                if (!HasStatus(response.TrailingHeaders))
                {
                    throw new GrpcException(GrpcStatusCode.Internal, "The response ended without grpc-status.", endpoint.Name);
                }

                return result ?? throw new GrpcException(GrpcStatusCode.Internal, "A unary call answered no message.", endpoint.Name);
            }
            catch (HttpRequestException e)
            {
                throw TransportError(e, endpoint, sent: true);
            }
            catch (IOException e)
            {
                throw new GrpcException(GrpcStatusCode.Unavailable, e.Message, endpoint.Name, inner: e);
            }
        }
    }

    /// <summary>Opens a bidirectional call whose first request is <paramref name="first"/>; returns once response headers arrived.</summary>
    public async Task<GrpcDuplexCall<TResponse>> DuplexAsync<TResponse>(GrpcEndpoint endpoint, string path, IMessage first, MessageParser<TResponse> parser, string? token, CancellationToken cancellationToken)
        where TResponse : class, IMessage<TResponse>
    {
        var call = new GrpcDuplexCall<TResponse>(endpoint, parser) { AuthToken = token };
        var message = CreateRequest(endpoint, path, token);
        message.Content = call.Content;

        // The first message is written by the content as soon as SendAsync starts: etcd answers headers only after it.
        call.Content.Enqueue(GrpcFraming.Frame(first));
        try
        {
            HttpResponseMessage response;
            using (cancellationToken.UnsafeRegister(static c => ((GrpcDuplexCall<TResponse>)c!).Abort(), call))
            {
                try
                {
                    response = await _invoker.SendAsync(message, call.Aborted).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException(cancellationToken);
                }
                catch (HttpRequestException e)
                {
                    throw TransportError(e, endpoint);
                }
            }

            call.Attach(message, response);
            CheckResponseHeaders(response, endpoint);
            await call.OpenAsync(cancellationToken).ConfigureAwait(false);
            return call;
        }
        catch
        {
            await call.DisposeAsync().ConfigureAwait(false);
            message.Dispose();
            throw;
        }
    }

    public void Dispose() => _invoker.Dispose();

    internal static GrpcException? StatusOf(HttpHeaders headers, GrpcEndpoint endpoint)
    {
        if (!headers.TryGetValues("grpc-status", out var values))
        {
            return null;
        }

        var text = values.FirstOrDefault();
        if (!int.TryParse(text, out var code))
        {
            return new GrpcException(GrpcStatusCode.Internal, $"Invalid grpc-status '{text}'.", endpoint.Name);
        }

        if (code == 0)
        {
            return null;
        }

        var detail = headers.TryGetValues("grpc-message", out var messages) ? Uri.UnescapeDataString(messages.FirstOrDefault() ?? string.Empty) : string.Empty;
        return new GrpcException((GrpcStatusCode)code, detail, endpoint.Name, answered: true);
    }

    internal static bool HasStatus(HttpHeaders headers) => headers.Contains("grpc-status");

    internal static GrpcException TransportError(HttpRequestException e, GrpcEndpoint endpoint, bool sent = false) =>
        new(GrpcStatusCode.Unavailable, e.InnerException?.Message ?? e.Message, endpoint.Name, notSent: !sent && e.HttpRequestError == HttpRequestError.ConnectionError, inner: e);

    private static HttpRequestMessage CreateRequest(GrpcEndpoint endpoint, string path, string? token)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, endpoint.MethodUri(path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        message.Headers.TryAddWithoutValidation("te", "trailers");
        if (token is not null)
        {
            message.Headers.TryAddWithoutValidation("token", token);
        }

        return message;
    }

    private static void CheckResponseHeaders(HttpResponseMessage response, GrpcEndpoint endpoint)
    {
        if (response.StatusCode != HttpStatusCode.OK)
        {
            var status = response.StatusCode switch
            {
                HttpStatusCode.BadRequest => GrpcStatusCode.Internal,
                HttpStatusCode.Unauthorized => GrpcStatusCode.Unauthenticated,
                HttpStatusCode.Forbidden => GrpcStatusCode.PermissionDenied,
                HttpStatusCode.NotFound => GrpcStatusCode.Unimplemented,
                HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout => GrpcStatusCode.Unavailable,
                _ => GrpcStatusCode.Unknown,
            };
            throw new GrpcException(status, $"HTTP {(int)response.StatusCode}", endpoint.Name, answered: true);
        }

        // Trailers-only responses carry grpc-status in the headers; etcd answers errors that way.
        if (StatusOf(response.Headers, endpoint) is { } error)
        {
            throw error;
        }
    }
}

/// <summary>One server: its base URI, the "host:port" name used in messages, and its method URIs (built once).</summary>
internal sealed class GrpcEndpoint(string name, Uri baseUri)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Uri> _methods = new(StringComparer.Ordinal);

    public string Name { get; } = name;

    public Uri BaseUri { get; } = baseUri;

    /// <summary>The endpoint of a parsed entry; InvalidConfiguration (naming the entry) when it makes no URI.</summary>
    public static GrpcEndpoint Create(KvEndpoint endpoint)
    {
        var h = endpoint.Host.Contains(':', StringComparison.Ordinal) ? $"[{endpoint.Host.Replace("%", "%25", StringComparison.Ordinal)}]" : endpoint.Host;
        if (!Uri.TryCreate($"http://{h}:{endpoint.Port}/", UriKind.Absolute, out var uri))
        {
            throw new KvException(KvErrorCode.InvalidConfiguration, $"Invalid StoreOptions.Endpoints: endpoint '{endpoint.Text}' is not a usable host:port.");
        }

        return new GrpcEndpoint(endpoint.HostPort, uri);
    }

    public Uri MethodUri(string path) => _methods.GetOrAdd(path, static (p, b) => new Uri(b, p), BaseUri);
}
