using System.Globalization;

namespace LibKv;

/// <summary>One server endpoint: host, port and whether it is reached over TLS (an <c>https://</c> entry).</summary>
/// <param name="Host">The host name or address (an IPv6 address without brackets).</param>
/// <param name="Port">The TCP port.</param>
/// <param name="Tls">True for an <c>https://</c> entry.</param>
/// <param name="Text">The entry as the user wrote it.</param>
public sealed record KvEndpoint(string Host, int Port, bool Tls, string Text)
{
    /// <summary>"host:port", with an IPv6 host in brackets.</summary>
    public string HostPort => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>Splits into host and port.</summary>
    public void Deconstruct(out string host, out int port)
    {
        host = Host;
        port = Port;
    }

    /// <inheritdoc />
    public override string ToString() => (Tls ? "https://" : string.Empty) + HostPort;
}

/// <summary>Parses endpoints for the network backends: <c>host:port</c>, <c>http://host:port</c> or <c>https://host:port</c>, as list entries or comma-separated.</summary>
public static class Endpoint
{
    /// <summary>Splits every entry at commas and trims the parts; empty parts are dropped.</summary>
    public static List<string> Expand(IEnumerable<string?>? entries)
    {
        var result = new List<string>();
        if (entries is null)
        {
            return result;
        }

        foreach (var entry in entries)
        {
            if (entry is null)
            {
                continue;
            }

            foreach (var part in entry.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                result.Add(part);
            }
        }

        return result;
    }

    /// <summary>Parses one endpoint; false, with the reason in <paramref name="error"/>, when it is not of an accepted form.</summary>
    public static bool TryParse(string? text, out KvEndpoint endpoint, out string error)
    {
        endpoint = null!;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "an endpoint is empty";
            return false;
        }

        var s = text.Trim();
        var tls = false;
        var scheme = s.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            var name = s[..scheme];
            if (name.Equals("https", StringComparison.OrdinalIgnoreCase))
            {
                tls = true;
            }
            else if (!name.Equals("http", StringComparison.OrdinalIgnoreCase))
            {
                error = $"endpoint '{text}' has the scheme '{name}'; use host:port, http://host:port or https://host:port";
                return false;
            }

            s = s[(scheme + 3)..];
            if (s.EndsWith('/'))
            {
                s = s[..^1];
            }
        }

        if (s.IndexOfAny(['/', '@', '?', '#', ',', ' ']) >= 0)
        {
            error = $"endpoint '{text}' is not of the form host:port (no path, user or list inside one entry)";
            return false;
        }

        string host;
        string portText;
        if (s.StartsWith('['))
        {
            var close = s.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= s.Length || s[close + 1] != ':')
            {
                error = $"endpoint '{text}' is not of the form [ipv6]:port";
                return false;
            }

            host = s[1..close];
            portText = s[(close + 2)..];
        }
        else
        {
            var colon = s.LastIndexOf(':');
            if (colon <= 0 || s.IndexOf(':') != colon)
            {
                error = $"endpoint '{text}' is not of the form host:port";
                return false;
            }

            host = s[..colon];
            portText = s[(colon + 1)..];
        }

        if (host.Length == 0 || !host.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or ':' or '%'))
        {
            error = $"endpoint '{text}' has an invalid host '{host}'";
            return false;
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            error = $"endpoint '{text}' has an invalid port '{portText}' (1-65535)";
            return false;
        }

        endpoint = new KvEndpoint(host, port, tls, text.Trim());
        error = string.Empty;
        return true;
    }

    /// <summary>Splits "host:port" (IPv6 hosts in brackets); false when it is not of an accepted form.</summary>
    public static bool TryParse(string endpoint, out string host, out int port)
    {
        if (TryParse(endpoint, out KvEndpoint parsed, out _))
        {
            (host, port) = parsed;
            return true;
        }

        host = string.Empty;
        port = 0;
        return false;
    }

    /// <summary>Parses every endpoint (comma-separated entries included) or throws <see cref="KvException"/> (InvalidConfiguration); the default when none is given.</summary>
    public static IReadOnlyList<KvEndpoint> ParseAll(IReadOnlyList<string> endpoints, string defaultEndpoint)
    {
        var list = Expand(endpoints);
        if (list.Count == 0)
        {
            list.Add(defaultEndpoint);
        }

        var result = new List<KvEndpoint>(list.Count);
        foreach (var e in list)
        {
            if (!TryParse(e, out KvEndpoint parsed, out var error))
            {
                throw new KvException(KvErrorCode.InvalidConfiguration, "Invalid StoreOptions.Endpoints: " + error + ".");
            }

            result.Add(parsed);
        }

        return result;
    }
}
