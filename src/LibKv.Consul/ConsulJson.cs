using System.Text.Json.Serialization;

namespace LibKv.Consul;

/// <summary>One entry of <c>/v1/kv</c> or of a transaction result.</summary>
internal sealed class ConsulKvEntry
{
    public string Key { get; set; } = string.Empty;

    public byte[]? Value { get; set; }

    public ulong CreateIndex { get; set; }

    public ulong ModifyIndex { get; set; }

    public ulong LockIndex { get; set; }

    public ulong Flags { get; set; }

    public string? Session { get; set; }
}

/// <summary>The body of a <c>/v1/txn</c> answer (200 or 409).</summary>
internal sealed class ConsulTxnResponse
{
    public List<ConsulTxnResult>? Results { get; set; }

    public List<ConsulTxnError>? Errors { get; set; }
}

/// <summary>One result of a transaction.</summary>
internal sealed class ConsulTxnResult
{
    public ConsulKvEntry? KV { get; set; }
}

/// <summary>One failed operation of a transaction.</summary>
internal sealed class ConsulTxnError
{
    public int OpIndex { get; set; }

    public string What { get; set; } = string.Empty;
}

/// <summary>The body of <c>/v1/session/create</c>.</summary>
internal sealed class ConsulSessionRequest
{
    public string Name { get; set; } = string.Empty;

    public string TTL { get; set; } = string.Empty;

    public string Behavior { get; set; } = "release";

    public string LockDelay { get; set; } = "0s";

    /// <summary>No node checks (Consul's default is serfHealth): only the TTL, which the holder counts locally, ends the session.</summary>
    public List<string> NodeChecks { get; set; } = new();

    /// <summary>The same for Consul before 1.7.</summary>
    public List<string> Checks { get; set; } = new();
}

/// <summary>The answer of <c>/v1/session/create</c>, and an entry of <c>/v1/session/info</c>.</summary>
internal sealed class ConsulSessionInfo
{
    public string ID { get; set; } = string.Empty;

    public string? Behavior { get; set; }

    public string? Name { get; set; }
}

/// <summary>Source-generated serialization of every Consul wire type.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(List<ConsulKvEntry>))]
[JsonSerializable(typeof(ConsulTxnResponse))]
[JsonSerializable(typeof(ConsulSessionRequest))]
[JsonSerializable(typeof(ConsulSessionInfo))]
[JsonSerializable(typeof(List<ConsulSessionInfo>))]
[JsonSerializable(typeof(List<string>))]
internal sealed partial class ConsulJsonContext : JsonSerializerContext
{
}
