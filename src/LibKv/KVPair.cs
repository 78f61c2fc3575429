namespace LibKv;

/// <summary>A key, its value and its opaque version, as read from a store.</summary>
public sealed class KVPair
{
    /// <summary>Creates a pair; <paramref name="value"/> is kept as given, not copied.</summary>
    public KVPair(string key, byte[] value, ulong lastIndex)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Key = key;
        Value = value;
        LastIndex = lastIndex;
    }

    /// <summary>The normalized key (no leading or trailing <c>/</c>, no store root).</summary>
    public string Key { get; }

    /// <summary>The value; never null, may be empty.</summary>
    public byte[] Value { get; }

    /// <summary>An opaque version that changes on every write of the key and is never reused for it; compare it, never do arithmetic on it.</summary>
    public ulong LastIndex { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Key}@{LastIndex} ({Value.Length} bytes)";
}
