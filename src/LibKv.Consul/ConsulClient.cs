using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace LibKv.Consul;

/// <summary>One operation of a KV transaction.</summary>
internal readonly record struct TxnOp(string Verb, string Key, ReadOnlyMemory<byte>? Value = null, ulong? Index = null, string? Session = null, ulong? Flags = null);

/// <summary>The outcome of a KV transaction: the entries it returned, or the operations that failed.</summary>
internal sealed class TxnOutcome
{
    public TxnOutcome(List<ConsulKvEntry> results, List<ConsulTxnError> errors)
    {
        Results = results;
        Errors = errors;
    }

    public bool Ok => Errors.Count == 0;

    public List<ConsulKvEntry> Results { get; }

    public List<ConsulTxnError> Errors { get; }

    /// <summary>The entry of the last operation that returned one (the write, in check-then-write transactions).</summary>
    public ConsulKvEntry? Last => Results.Count == 0 ? null : Results[^1];
}

/// <summary>Consul's HTTP API as typed calls (KV, transactions, sessions, status); no contract logic here.</summary>
internal sealed class ConsulClient
{
    /// <summary>Consul's default <c>txn_max_req_len</c>: larger transaction bodies are refused with 413.</summary>
    public const int MaxTxnBody = 512 * 1024;

    public ConsulClient(ConsulTransport transport)
    {
        Transport = transport;
        BlockingWait = TimeSpan.FromTicks(Math.Clamp(transport.RequestTimeout.Ticks, TimeSpan.TicksPerSecond, 60 * TimeSpan.TicksPerSecond));
    }

    /// <summary>
    /// How long one blocking query waits on the server: RequestTimeout (1 s to 60 s). Its client-side deadline is
    /// this wait, Consul's jitter (wait/16) and RequestTimeout, so a silent (paused) agent is found within about
    /// twice RequestTimeout, and a watch re-reads at least that often even when the server's index went backwards.
    /// </summary>
    public TimeSpan BlockingWait { get; }

    public ConsulTransport Transport { get; }

    /// <summary>
    /// A fresh write nonce for the Flags field: Consul skips a write that changes nothing (same value, flags and
    /// session) and keeps its ModifyIndex, but the contract wants every write to get a new version.
    /// </summary>
    public static ulong NewNonce() => (ulong)Random.Shared.NextInt64(1, long.MaxValue);

    /// <summary>Percent-escapes each segment of a full key for the URL path.</summary>
    public static string EscapeKey(string fullKey)
    {
        var plain = true;
        foreach (var c in fullKey)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '/' or '-' or '_' or '.' or '~'))
            {
                plain = false;
                break;
            }
        }

        if (plain)
        {
            return fullKey;
        }

        var parts = fullKey.Split('/');
        for (var i = 0; i < parts.Length; i++)
        {
            parts[i] = Uri.EscapeDataString(parts[i]);
        }

        return string.Join('/', parts);
    }

    /// <summary>GET of one key's raw value; X-Consul-Index is its ModifyIndex when found. Blocking when index &gt; 0.</summary>
    public Task<ConsulResponse> GetRawAsync(string fullKey, bool consistent, ulong index, CancellationToken cancellationToken)
    {
        var query = new StringBuilder("v1/kv/").Append(EscapeKey(fullKey)).Append("?raw");
        return GetAsync(query, true, fullKey, consistent, index, cancellationToken);
    }

    /// <summary>GET of one key's entry (with Session); blocking when index &gt; 0.</summary>
    public async Task<(ConsulResponse Response, ConsulKvEntry? Entry)> GetEntryAsync(string fullKey, bool consistent, ulong index, CancellationToken cancellationToken)
    {
        var query = new StringBuilder("v1/kv/").Append(EscapeKey(fullKey));
        var response = await GetAsync(query, false, fullKey, consistent, index, cancellationToken).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound)
        {
            return (response, null);
        }

        EnsureSuccess(response, fullKey);
        var list = Parse(response.Body, ConsulJsonContext.Default.ListConsulKvEntry);
        return (response, list.Count > 0 ? list[0] : null);
    }

    /// <summary>GET of every entry whose key starts with <paramref name="prefix"/>; empty on 404. Blocking when index &gt; 0.</summary>
    public async Task<(ConsulResponse Response, List<ConsulKvEntry> Entries)> GetPrefixAsync(string prefix, bool consistent, ulong index, CancellationToken cancellationToken)
    {
        var query = new StringBuilder("v1/kv/").Append(EscapeKey(prefix)).Append("?recurse");
        var response = await GetAsync(query, true, prefix, consistent, index, cancellationToken).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound)
        {
            return (response, new List<ConsulKvEntry>());
        }

        EnsureSuccess(response, prefix);
        return (response, Parse(response.Body, ConsulJsonContext.Default.ListConsulKvEntry));
    }

    /// <summary>GET of the key names starting with <paramref name="prefix"/> (no values); empty on 404.</summary>
    public async Task<List<string>> GetKeysAsync(string prefix, bool consistent, CancellationToken cancellationToken)
    {
        var query = new StringBuilder("v1/kv/").Append(EscapeKey(prefix)).Append("?keys");
        var response = await GetAsync(query, true, prefix, consistent, 0, cancellationToken).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound)
        {
            return new List<string>();
        }

        EnsureSuccess(response, prefix);
        return Parse(response.Body, ConsulJsonContext.Default.ListString);
    }

    /// <summary>PUT of a raw value with extra query (cas, acquire, release, flags); true when Consul applied it.</summary>
    public async Task<bool> PutRawAsync(string fullKey, ReadOnlyMemory<byte> value, string? query, CancellationToken cancellationToken)
    {
        var path = "v1/kv/" + EscapeKey(fullKey) + (query is null ? string.Empty : "?" + query);
        var response = await Transport.SendAsync(HttpMethod.Put, path, value, jsonBody: false, fullKey, resendable: false, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, fullKey);
        return IsTrue(response.Body);
    }

    /// <summary>Builds a transaction body; its length decides whether it fits <see cref="MaxTxnBody"/>.</summary>
    public static ArrayBufferWriter<byte> BuildTxn(ReadOnlySpan<TxnOp> ops)
    {
        var estimate = 64;
        foreach (var op in ops)
        {
            estimate += 96 + (op.Key.Length * 2) + (op.Value is { } v ? ((v.Length + 2) / 3 * 4) : 0);
        }

        var buffer = new ArrayBufferWriter<byte>(estimate);
        using var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true });
        writer.WriteStartArray();
        foreach (var op in ops)
        {
            writer.WriteStartObject();
            writer.WriteStartObject("KV"u8);
            writer.WriteString("Verb"u8, op.Verb);
            writer.WriteString("Key"u8, op.Key);
            if (op.Value is { } value)
            {
                // Encoded straight from the caller's memory into the request buffer.
                writer.WriteBase64String("Value"u8, value.Span);
            }

            if (op.Index is { } index)
            {
                writer.WriteNumber("Index"u8, index);
            }

            if (op.Flags is { } flags)
            {
                writer.WriteNumber("Flags"u8, flags);
            }

            if (op.Session is not null)
            {
                writer.WriteString("Session"u8, op.Session);
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.Flush();
        return buffer;
    }

    /// <summary>Runs a transaction; read-only ones take the consistency mode.</summary>
    public Task<TxnOutcome> TxnAsync(ReadOnlySpan<TxnOp> ops, string key, CancellationToken cancellationToken, bool? consistentRead = null) =>
        TxnAsync(BuildTxn(ops), key, cancellationToken, consistentRead);

    /// <summary>Runs a prebuilt transaction body.</summary>
    public async Task<TxnOutcome> TxnAsync(ArrayBufferWriter<byte> body, string key, CancellationToken cancellationToken, bool? consistentRead = null)
    {
        var path = consistentRead == true ? "v1/txn?consistent" : "v1/txn";
        var response = await Transport.SendAsync(HttpMethod.Put, path, body.WrittenMemory, jsonBody: true, key, resendable: consistentRead is not null, cancellationToken).ConfigureAwait(false);
        if (response.Status is not (HttpStatusCode.OK or HttpStatusCode.Conflict))
        {
            throw ConsulErrors.FromStatus(response.Status, response.Body, key, response.Endpoint);
        }

        var parsed = Parse(response.Body, ConsulJsonContext.Default.ConsulTxnResponse);
        var results = new List<ConsulKvEntry>(parsed.Results?.Count ?? 0);
        if (parsed.Results is not null)
        {
            foreach (var r in parsed.Results)
            {
                if (r.KV is not null)
                {
                    results.Add(r.KV);
                }
            }
        }

        var errors = parsed.Errors ?? new List<ConsulTxnError>();
        if (response.Status == HttpStatusCode.Conflict && errors.Count == 0)
        {
            errors.Add(new ConsulTxnError { OpIndex = 0, What = "transaction rolled back" });
        }

        return new TxnOutcome(results, errors);
    }

    /// <summary>Creates a session; an unacceptable TTL is NotSupported naming session_ttl_min.</summary>
    public async Task<string> CreateSessionAsync(string name, TimeSpan ttl, bool deleteBehavior, CancellationToken cancellationToken)
    {
        var request = new ConsulSessionRequest
        {
            Name = name,
            TTL = FormatDuration(ttl),
            Behavior = deleteBehavior ? "delete" : "release",
            LockDelay = "0s",
        };
        var body = JsonSerializer.SerializeToUtf8Bytes(request, ConsulJsonContext.Default.ConsulSessionRequest);
        var response = await Transport.SendAsync(HttpMethod.Put, "v1/session/create", body, jsonBody: true, null, resendable: true, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccess && ConsulErrors.FromStatus(response.Status, response.Body, null, response.Endpoint) is { Code: KvErrorCode.Unauthorized } denied)
        {
            throw ConsulErrors.NoSessionRights(denied);
        }

        EnsureSuccess(response, null);
        return Parse(response.Body, ConsulJsonContext.Default.ConsulSessionInfo).ID;
    }

    /// <summary>Renews a session, each endpoint given <paramref name="attemptTimeout"/>; false when the session no longer exists.</summary>
    public async Task<bool> RenewSessionAsync(string id, TimeSpan attemptTimeout, CancellationToken cancellationToken)
    {
        var response = await Transport.SendAsync(HttpMethod.Put, "v1/session/renew/" + id, null, jsonBody: false, null, resendable: true, cancellationToken, attemptTimeout: attemptTimeout).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound)
        {
            return false;
        }

        EnsureSuccess(response, null);
        return true;
    }

    /// <summary>Destroys a session (Consul then releases or deletes what it holds).</summary>
    public async Task DestroySessionAsync(string id, CancellationToken cancellationToken)
    {
        var response = await Transport.SendAsync(HttpMethod.Put, "v1/session/destroy/" + id, null, jsonBody: false, null, resendable: true, cancellationToken).ConfigureAwait(false);
        if (response.Status != HttpStatusCode.NotFound)
        {
            EnsureSuccess(response, null);
        }
    }

    /// <summary>Reads a session; null when it does not exist.</summary>
    public async Task<ConsulSessionInfo?> SessionInfoAsync(string id, CancellationToken cancellationToken)
    {
        var response = await Transport.SendAsync(HttpMethod.Get, "v1/session/info/" + id, null, jsonBody: false, null, resendable: true, cancellationToken).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound)
        {
            return null;
        }

        EnsureSuccess(response, null);
        var list = Parse(response.Body, ConsulJsonContext.Default.ListConsulSessionInfo);
        return list.Count > 0 ? list[0] : null;
    }

    /// <summary>
    /// Checks that what answers is a Consul agent (<c>/v1/status/leader</c> is a JSON string, a KV read carries
    /// X-Consul-* headers) with a cluster leader: InvalidConfiguration naming what answered otherwise.
    /// </summary>
    public async Task VerifyAsync(string probeKey, CancellationToken cancellationToken)
    {
        var response = await Transport.SendAsync(HttpMethod.Get, "v1/status/leader", null, jsonBody: false, null, resendable: true, cancellationToken).ConfigureAwait(false);
        var text = Encoding.UTF8.GetString(response.Body).Trim();
        if (response.Status != HttpStatusCode.OK || text.Length < 2 || text[0] != '"' || text[^1] != '"')
        {
            throw await NotConsulAsync(response, "GET /v1/status/leader", cancellationToken).ConfigureAwait(false);
        }

        if (text.Trim('"').Length == 0)
        {
            throw ConsulErrors.Unavailable($"Consul at {response.Endpoint} answers but has no cluster leader.");
        }

        var probe = await Transport.SendAsync(HttpMethod.Get, "v1/kv/" + EscapeKey(probeKey) + "?keys&separator=/", null, jsonBody: false, null, resendable: true, cancellationToken).ConfigureAwait(false);
        var denied = probe.Status is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized;
        if (!probe.HasConsulHeaders && !(denied && IsAclText(probe.Body)))
        {
            throw await NotConsulAsync(probe, "GET /v1/kv/" + probeKey, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Throws the mapped exception unless the answer is a success.</summary>
    public static void EnsureSuccess(in ConsulResponse response, string? key)
    {
        if (!response.IsSuccess)
        {
            throw ConsulErrors.FromStatus(response.Status, response.Body, key, response.Endpoint);
        }
    }

    /// <summary>Formats a duration the way Go's time.ParseDuration reads it.</summary>
    public static string FormatDuration(TimeSpan value) =>
        value.Ticks % TimeSpan.TicksPerSecond == 0
            ? ((long)value.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s"
            : Math.Ceiling(value.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";

    private static T Parse<T>(byte[] body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        try
        {
            return JsonSerializer.Deserialize(body, info) ?? throw new JsonException("null body");
        }
        catch (JsonException e)
        {
            throw ConsulErrors.Unavailable($"Consul sent an answer that is not the expected JSON: {e.Message}", null, e);
        }
    }

    private static bool IsAclText(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body);
        return text.Contains("Permission denied", StringComparison.OrdinalIgnoreCase) || text.Contains("ACL not found", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>InvalidConfiguration naming what answered instead of Consul (etcd is recognised by its /version).</summary>
    private async Task<KvException> NotConsulAsync(ConsulResponse response, string request, CancellationToken cancellationToken)
    {
        var body = Encoding.UTF8.GetString(response.Body, 0, Math.Min(response.Body.Length, 200)).Trim();
        if (body.Contains("HTTP request to an HTTPS server", StringComparison.OrdinalIgnoreCase))
        {
            return new KvException(
                KvErrorCode.InvalidConfiguration,
                $"The endpoint {response.Endpoint} serves HTTPS and was spoken to in plain HTTP ({request} answered {(int)response.Status}: {body}). Use https://{response.Endpoint} or StoreOptions.Tls.Enabled, with Tls.CaFile (and a client certificate when the agent verifies them).");
        }

        var what = $"{request} answered {(int)response.Status} ({response.ServerText ?? "no Consul headers"}{(body.Length == 0 ? string.Empty : ": " + body)})";
        try
        {
            var version = await Transport.SendAsync(HttpMethod.Get, "version", null, jsonBody: false, null, resendable: true, cancellationToken).ConfigureAwait(false);
            var versionText = Encoding.UTF8.GetString(version.Body);
            if (version.Status == HttpStatusCode.OK && versionText.Contains("\"etcdserver\"", StringComparison.Ordinal))
            {
                what = "it is etcd " + versionText.Trim() + "; " + what;
            }
        }
        catch (KvException)
        {
        }

        return new KvException(
            KvErrorCode.InvalidConfiguration,
            $"The endpoint {response.Endpoint} is not a Consul agent: {what}. Check StoreOptions.Endpoints (Consul's HTTP API, port 8500 by default).");
    }

    private static bool IsTrue(byte[] body) => body.AsSpan().Trim("\r\n\t "u8).SequenceEqual("true"u8);

    private Task<ConsulResponse> GetAsync(StringBuilder query, bool hasQuery, string key, bool consistent, ulong index, CancellationToken cancellationToken)
    {
        var separator = hasQuery ? '&' : '?';
        if (consistent)
        {
            query.Append(separator).Append("consistent");
            separator = '&';
        }

        var extra = TimeSpan.Zero;
        if (index > 0)
        {
            query.Append(separator).Append("index=").Append(index.ToString(CultureInfo.InvariantCulture))
                .Append("&wait=").Append(FormatDuration(BlockingWait));
            extra = BlockingWait + (BlockingWait / 16);
        }

        return Transport.SendAsync(HttpMethod.Get, query.ToString(), null, jsonBody: false, key, resendable: true, cancellationToken, extra);
    }
}
