namespace LibKv.ZooKeeper.Client;

/// <summary>What answered a handshake is not a ZooKeeper server (an HTTP server, another store's port).</summary>
internal sealed class NotZooKeeperException(string message) : Exception(message)
{
    /// <summary>Describes the first bytes that answered, reading a little more for the message (briefly).</summary>
    public static async Task<NotZooKeeperException> DescribeAsync(byte[] first, Stream stream, CancellationToken cancellationToken)
    {
        var bytes = new List<byte>(first);
        var buffer = new byte[124];
        try
        {
            using var brief = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            brief.CancelAfter(TimeSpan.FromMilliseconds(300));
            var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, brief.Token).ConfigureAwait(false);
            bytes.AddRange(buffer.AsSpan(0, read).ToArray());
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
        }

        var printable = bytes.Count(b => b is >= 0x20 and < 0x7F or (byte)'\r' or (byte)'\n' or (byte)'\t');
        string shown;
        if (printable * 10 >= bytes.Count * 9)
        {
            var text = System.Text.Encoding.ASCII.GetString(bytes.ToArray());
            var line = text.Split('\n')[0].Trim();
            shown = $"'{line}'" + (text.StartsWith("HTTP/", StringComparison.Ordinal) ? " (an HTTP server)" : string.Empty);
        }
        else
        {
            shown = "bytes " + Convert.ToHexString(bytes.Take(16).ToArray());
            if (bytes.Count >= 9 && bytes[3] == 4 && bytes[5] == 0 && bytes[6] == 0 && bytes[7] == 0 && bytes[8] == 0)
            {
                shown += " (an HTTP/2 SETTINGS frame: an HTTP/2 or gRPC server such as etcd)";
            }
        }

        return new NotZooKeeperException($"not a ZooKeeper server: it answered the ZooKeeper handshake with {shown}");
    }

    /// <summary>
    /// After a handshake met silence: asks the host an HTTP request (which a ZooKeeper server just closes) and, when
    /// it answers HTTP, describes it; null otherwise. Takes at most a second.
    /// </summary>
    public static async Task<NotZooKeeperException?> ProbeHttpAsync(string host, int port, CancellationToken cancellationToken)
    {
        try
        {
            using var brief = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            brief.CancelAfter(TimeSpan.FromSeconds(1));
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            await socket.ConnectAsync(host, port, brief.Token).ConfigureAwait(false);
            await using var stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"GET /version HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"), brief.Token).ConfigureAwait(false);
            var buffer = new byte[512];
            var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, brief.Token).ConfigureAwait(false);
            var text = System.Text.Encoding.ASCII.GetString(buffer, 0, read);
            if (!text.StartsWith("HTTP/", StringComparison.Ordinal))
            {
                return null;
            }

            var status = text.Split('\n')[0].Trim();
            var body = text.Contains("\r\n\r\n", StringComparison.Ordinal) ? text[(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..].Split('\n')[0].Trim() : string.Empty;
            return new NotZooKeeperException(
                $"not a ZooKeeper server: it did not answer the ZooKeeper handshake but answered HTTP with '{status}'" +
                (body.Length > 0 ? $" and '{(body.Length > 120 ? body[..120] : body)}'" : string.Empty));
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            return null;
        }
    }
}

/// <summary>A host took the TCP connection but did not answer the handshake in time (paused, or not ZooKeeper).</summary>
internal sealed class HandshakeTimeoutException(string message, Exception inner) : TimeoutException(message, inner);

/// <summary>The caller's token ended a write after it was sent: the server may still apply it.</summary>
internal sealed class SentWriteCanceledException(CancellationToken token)
    : OperationCanceledException("The call was cancelled after its write was sent; the write may have been applied.", token);
