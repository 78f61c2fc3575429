using System.Runtime.InteropServices;
using System.Text;
using Google.Protobuf;
using LibKv.Etcd.Protocol;

namespace LibKv.Etcd;

/// <summary>
/// How contract keys map to etcd keys: the store Root is a plain prefix ("root/key"); a directory d is the range
/// ["root/d/", "root/d0"); lock waiters live at "\u0001lock/root/key\u0001&lt;lease&gt;", outside every user range.
/// </summary>
internal sealed class EtcdKeys(string? root)
{
    /// <summary>Starts every internal key; no user key can start with a control character.</summary>
    public const string LockNamespace = "\u0001lock/";

    // Valid user keys start with a character >= U+0020, so with no root the whole store is [" ", end of keyspace).
    private static readonly ByteString s_firstUserKey = ByteString.CopyFromUtf8(" ");
    private static readonly ByteString s_endOfKeyspace = ByteString.CopyFrom(0);

    private readonly string _rootPrefix = string.IsNullOrEmpty(root) ? string.Empty : root + "/";
    private readonly byte[] _rootPrefixBytes = Encoding.UTF8.GetBytes(string.IsNullOrEmpty(root) ? string.Empty : root + "/");

    /// <summary>The etcd key of a normalized user key.</summary>
    public ByteString Full(string key) => ByteString.CopyFromUtf8(_rootPrefix + key);

    /// <summary>The first key of the range holding everything under <paramref name="directory"/> ("" = whole store).</summary>
    public ByteString TreeStart(string directory) =>
        directory.Length == 0
            ? (_rootPrefix.Length == 0 ? s_firstUserKey : ByteString.CopyFromUtf8(_rootPrefix))
            : ByteString.CopyFromUtf8(_rootPrefix + directory + "/");

    /// <summary>The (exclusive) end of that range: the prefix with its last byte incremented ("d/" → "d0").</summary>
    public ByteString TreeEnd(string directory) =>
        directory.Length == 0
            ? (_rootPrefix.Length == 0 ? s_endOfKeyspace : ByteString.CopyFromUtf8(_rootPrefix[..^1] + "0"))
            : ByteString.CopyFromUtf8(_rootPrefix + directory + "0");

    /// <summary>The prefix of the waiter keys of the lock on <paramref name="key"/>.</summary>
    public string LockPrefix(string key) => LockNamespace + _rootPrefix + key + "\u0001";

    /// <summary>The user key of an etcd key, or null when it is outside this store.</summary>
    public string? UserKey(ByteString fullKey)
    {
        var bytes = fullKey.Span;
        if (bytes.Length <= _rootPrefixBytes.Length || !bytes.StartsWith(_rootPrefixBytes))
        {
            return _rootPrefixBytes.Length == 0 && bytes.Length > 0 ? Encoding.UTF8.GetString(bytes) : null;
        }

        // Decode only the part after the root: one string per key.
        return Encoding.UTF8.GetString(bytes[_rootPrefixBytes.Length..]);
    }

    /// <summary>The pair of an etcd key-value under a known user key.</summary>
    public static KVPair Pair(string key, KeyValue kv) => new(key, Bytes(kv.Value), (ulong)kv.ModRevision);

    /// <summary>The bytes of a parsed field without a second copy when the field owns its whole array.</summary>
    public static byte[] Bytes(ByteString value)
    {
        if (value.Length == 0)
        {
            return Array.Empty<byte>();
        }

        // A parsed ByteString owns a fresh array of exactly its length; the message is dropped after this, so hand it over.
        if (MemoryMarshal.TryGetArray(value.Memory, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length)
        {
            return segment.Array;
        }

        return value.ToByteArray();
    }

    /// <summary>Wraps a caller's value for one request without copying it; the request is serialized before the call returns.</summary>
    public static ByteString Wrap(ReadOnlyMemory<byte> value) => value.Length == 0 ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(value);
}
