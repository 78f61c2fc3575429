namespace LibKv;

/// <summary>Parses "host:port" endpoints for the network backends.</summary>
public static class Endpoint
{
    /// <summary>Splits "host:port" (IPv6 hosts in brackets); false when it is not of that form.</summary>
    public static bool TryParse(string endpoint, out string host, out int port)
    {
        host = string.Empty;
        port = 0;
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return false;
        }

        var text = endpoint.Trim();
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            text = text[(scheme + 3)..].TrimEnd('/');
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            return false;
        }

        host = text[..colon].Trim('[', ']');
        return host.Length > 0 && int.TryParse(text.AsSpan(colon + 1), out port) && port is > 0 and < 65536;
    }

    /// <summary>Parses every endpoint or throws <see cref="KvException"/> (InvalidConfiguration); defaults when the list is empty.</summary>
    public static IReadOnlyList<(string Host, int Port)> ParseAll(IReadOnlyList<string> endpoints, string defaultEndpoint)
    {
        var list = endpoints.Count == 0 ? new[] { defaultEndpoint } : endpoints;
        var result = new List<(string, int)>(list.Count);
        foreach (var e in list)
        {
            if (!TryParse(e, out var host, out var port))
            {
                throw new KvException(KvErrorCode.InvalidConfiguration, $"Endpoint '{e}' is not of the form host:port.");
            }

            result.Add((host, port));
        }

        return result;
    }
}
