using System.Net.Sockets;
using System.Text;

namespace LibKv.Etcd;

/// <summary>
/// Names what answers on an endpoint that did not answer etcd's gRPC: a plain HTTP/1.1 server, a Consul agent or a
/// ZooKeeper server. Only positive evidence counts; silence or a refused connection names nothing.
/// </summary>
internal static class EtcdServerCheck
{
    private const int MaxAnswer = 8192;

    /// <summary>A description of the non-etcd server on <paramref name="host"/>:<paramref name="port"/>, or null when there is no evidence.</summary>
    public static async Task<string?> DescribeAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var version = await ExchangeAsync(host, port, $"GET /version HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", timeout, cancellationToken).ConfigureAwait(false);
        if (version.StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            if (version.Contains("\"etcdserver\"", StringComparison.Ordinal))
            {
                // etcd's own HTTP/1.1 side: it is etcd after all.
                return null;
            }

            var leader = await ExchangeAsync(host, port, $"GET /v1/status/leader HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", timeout, cancellationToken).ConfigureAwait(false);
            if (IsConsul(leader))
            {
                return "a Consul agent (its HTTP API answered /v1/status/leader)";
            }

            var server = Header(version, "Server");
            return $"a plain HTTP/1.1 server ('{StatusLine(version)}'{(server is null ? string.Empty : $", Server: {server}")})";
        }

        var zk = await ExchangeAsync(host, port, "srvr", timeout, cancellationToken).ConfigureAwait(false);
        if (zk.StartsWith("Zookeeper version", StringComparison.OrdinalIgnoreCase))
        {
            return $"a ZooKeeper server ('{FirstLine(zk)}')";
        }

        if (zk.Contains("is not executed because it is not in the whitelist", StringComparison.Ordinal))
        {
            return "a ZooKeeper server (it answered a four-letter command)";
        }

        return null;
    }

    /// <summary>True once an HTTP/1.x answer has its headers and its whole body (so a server that keeps the connection open does not cost the timeout).</summary>
    private static bool IsCompleteHttp(string answer)
    {
        var end = answer.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (!answer.StartsWith("HTTP/1.", StringComparison.Ordinal) || end < 0)
        {
            return false;
        }

        if (Header(answer, "Content-Length") is { } length && int.TryParse(length, out var bytes))
        {
            return answer.Length - (end + 4) >= bytes;
        }

        return Header(answer, "Transfer-Encoding") is not { } encoding || !encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase)
            || answer.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal);
    }

    private static bool IsConsul(string answer)
    {
        if (!answer.StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return false;
        }

        if (answer.Contains("\nX-Consul-", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        // The leader's server RPC address as a JSON string ("" while there is none).
        var body = answer[(answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) is var i and >= 0 ? i + 4 : answer.Length)..].Trim();
        return StatusLine(answer).Contains(" 200", StringComparison.Ordinal)
            && body.Length >= 2 && body[0] == '"' && body[^1] == '"' && (body.Length == 2 || body.Contains(':', StringComparison.Ordinal));
    }

    private static string StatusLine(string answer) => FirstLine(answer);

    private static string FirstLine(string text)
    {
        var end = text.IndexOfAny(['\r', '\n']);
        return (end < 0 ? text : text[..end]).Trim();
    }

    private static string? Header(string answer, string name)
    {
        foreach (var line in answer.Split("\r\n"))
        {
            if (line.Length == 0)
            {
                break;
            }

            if (line.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase))
            {
                return line[(name.Length + 1)..].Trim();
            }
        }

        return null;
    }

    /// <summary>Sends <paramref name="request"/> on a new connection and reads the answer until it closes, the limit or the timeout.</summary>
    private static async Task<string> ExchangeAsync(string host, int port, string request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var received = new MemoryStream();
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, deadline.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request), deadline.Token).ConfigureAwait(false);
            var buffer = new byte[2048];
            while (received.Length < MaxAnswer)
            {
                var n = await stream.ReadAsync(buffer, deadline.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                received.Write(buffer, 0, n);
                if (IsCompleteHttp(Encoding.ASCII.GetString(received.GetBuffer(), 0, (int)received.Length)))
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }

        return Encoding.ASCII.GetString(received.GetBuffer(), 0, (int)received.Length);
    }
}
