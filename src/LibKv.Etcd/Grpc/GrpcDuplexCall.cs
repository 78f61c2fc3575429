using System.Net;
using System.Threading.Channels;
using Google.Protobuf;

namespace LibKv.Etcd.Grpc;

/// <summary>A bidirectional (or server-streaming) gRPC call: queue request messages, read response messages.</summary>
internal sealed class GrpcDuplexCall<TResponse> : IAsyncDisposable
    where TResponse : class, IMessage<TResponse>
{
    private readonly CancellationTokenSource _abort = new();
    private readonly MessageParser<TResponse> _parser;
    private readonly byte[] _header = new byte[GrpcFraming.HeaderSize];
    private readonly GrpcEndpoint _server;
    private readonly string _endpoint;
    private HttpRequestMessage? _request;
    private HttpResponseMessage? _response;
    private Stream? _stream;
    private int _disposed;

    internal GrpcDuplexCall(GrpcEndpoint endpoint, MessageParser<TResponse> parser)
    {
        _server = endpoint;
        _endpoint = endpoint.Name;
        _parser = parser;
        Content = new DuplexContent(_abort.Token);
    }

    /// <summary>The endpoint this call runs on.</summary>
    public string Endpoint => _endpoint;

    /// <summary>The auth token the call was opened with, if any.</summary>
    public string? AuthToken { get; init; }

    internal DuplexContent Content { get; }

    internal CancellationToken Aborted => _abort.Token;

    /// <summary>Queues a request message; false when the request side is already closed.</summary>
    public bool Write(IMessage message) => Content.Enqueue(GrpcFraming.Frame(message));

    /// <summary>Ends the request stream (half-close).</summary>
    public void CompleteRequest() => Content.Complete();

    /// <summary>Reads the next response; null when the server ended the call with OK.</summary>
    public async ValueTask<TResponse?> ReadAsync(CancellationToken cancellationToken)
    {
        var stream = _stream ?? throw new InvalidOperationException("The call is not open.");
        try
        {
            var message = await GrpcFraming.ReadAsync(stream, _parser, _header, _endpoint, cancellationToken).ConfigureAwait(false);
            if (message is not null)
            {
                return message;
            }
        }
        catch (HttpRequestException e)
        {
            throw new GrpcException(GrpcStatusCode.Unavailable, e.InnerException?.Message ?? e.Message, _endpoint, inner: e);
        }
        catch (IOException e)
        {
            throw new GrpcException(GrpcStatusCode.Unavailable, e.Message, _endpoint, inner: e);
        }
        catch (ObjectDisposedException e)
        {
            throw new GrpcException(GrpcStatusCode.Cancelled, "The call was closed.", _endpoint, inner: e);
        }

        var trailers = _response!.TrailingHeaders;
        if (trailers.TryGetValues("grpc-status", out _))
        {
            if (GrpcTransport.StatusOf(trailers, _server) is { } error)
            {
                throw error;
            }

            return null;
        }

        throw new GrpcException(GrpcStatusCode.Unavailable, "The stream ended without a status.", _endpoint);
    }

    /// <summary>Aborts the call on the wire.</summary>
    public void Abort()
    {
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return ValueTask.CompletedTask;
        }

        Content.Complete();
        Abort();
        _response?.Dispose();
        _request?.Dispose();
        return ValueTask.CompletedTask;
    }

    internal void Attach(HttpRequestMessage request, HttpResponseMessage response)
    {
        _request = request;
        _response = response;
    }

    internal async Task OpenAsync(CancellationToken cancellationToken) =>
        _stream = await _response!.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Request content that stays open and writes queued frames as they come, the first one at once.</summary>
    internal sealed class DuplexContent : HttpContent
    {
        private readonly Channel<byte[]> _frames = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
        private readonly CancellationToken _aborted;

        public DuplexContent(CancellationToken aborted)
        {
            _aborted = aborted;
            Headers.ContentType = GrpcFraming.ContentType;
        }

        public bool Enqueue(byte[] frame) => _frames.Writer.TryWrite(frame);

        public void Complete() => _frames.Writer.TryComplete();

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _aborted);
            try
            {
                var reader = _frames.Reader;
                while (await reader.WaitToReadAsync(linked.Token).ConfigureAwait(false))
                {
                    while (reader.TryRead(out var frame))
                    {
                        await stream.WriteAsync(frame, linked.Token).ConfigureAwait(false);
                    }

                    await stream.FlushAsync(linked.Token).ConfigureAwait(false);
                }
            }
            finally
            {
                _frames.Writer.TryComplete();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
