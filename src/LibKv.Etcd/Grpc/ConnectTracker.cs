using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace LibKv.Etcd.Grpc;

/// <summary>
/// Opens the handler's TCP connections and remembers, per server, how many succeeded and whether the last one failed:
/// a request cancelled while its server's last connect failed and none succeeded since never left this process.
/// </summary>
internal sealed class ConnectTracker
{
    private readonly ConcurrentDictionary<string, State> _servers = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The handler's ConnectCallback.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var state = _servers.GetOrAdd(Key(context.DnsEndPoint.Host, context.DnsEndPoint.Port), static _ => new State());
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Volatile.Write(ref state.LastFailed, true);
            socket.Dispose();
            throw;
        }

        Interlocked.Increment(ref state.Connected);
        Volatile.Write(ref state.LastFailed, false);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>A mark to compare with after a request was cancelled.</summary>
    public long Mark(GrpcEndpoint endpoint) =>
        _servers.TryGetValue(Key(endpoint.BaseUri.Host, endpoint.BaseUri.Port), out var state) ? Interlocked.Read(ref state.Connected) : 0;

    /// <summary>True when no connection to the server was made since <paramref name="mark"/> and the last attempt failed.</summary>
    public bool SurelyNotConnected(GrpcEndpoint endpoint, long mark) =>
        _servers.TryGetValue(Key(endpoint.BaseUri.Host, endpoint.BaseUri.Port), out var state)
        && Volatile.Read(ref state.LastFailed)
        && Interlocked.Read(ref state.Connected) == mark;

    private static string Key(string host, int port) => host.Trim('[', ']') + "|" + port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private sealed class State
    {
        public long Connected;
        public bool LastFailed;
    }
}
