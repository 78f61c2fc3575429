using System.Runtime.InteropServices;
using System.Text;
using Google.Protobuf;
using LibKv.Etcd.Protocol;

namespace LibKv.Etcd;

/// <summary>
/// How contract keys map to etcd keys: the store Root is a plain prefix ("root/key"); a directory d is the range
/// ["root/d/", "root/d0"). Internal keys live under the Root too, so a user whose role covers only "root/" can use every
/// operation: lock waiters at "root/\u0001lock/key\u0001&lt;lease&gt;", the probe at "root/\u0001libkv/probe". No user key
/// holds a control character, so any key with one below the Root (this store's or a nested Root's) is hidden.
/// </summary>
internal sealed class EtcdKeys(string? root)
{
    /// <summary>Starts the part after the Root of every internal key; no user key holds a control character.</summary>
    public const string InternalMark = "\u0001";

    /// <summary>Starts the part after the Root of every lock waiter key.</summary>
    public const string LockNamespace = InternalMark + "lock/";

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
    public string LockPrefix(string key) => _rootPrefix + LockNamespace + key + "\u0001";

    /// <summary>An internal key under the Root that nothing writes: read to check access at start and to learn the revision.</summary>
    public ByteString ProbeKey { get; } = ByteString.CopyFromUtf8((string.IsNullOrEmpty(root) ? string.Empty : root + "/") + InternalMark + "libkv/probe");

    /// <summary>The user key of an etcd key, or null when it is outside this store or internal (of this or a nested Root).</summary>
    public string? UserKey(ByteString fullKey)
    {
        var bytes = fullKey.Span;
        if (bytes.Length <= _rootPrefixBytes.Length || !bytes.StartsWith(_rootPrefixBytes))
        {
            return null;
        }

        // Decode only the part after the root: one string per key.
        var rest = bytes[_rootPrefixBytes.Length..];
        return rest.IndexOfAnyInRange((byte)0, (byte)0x1F) >= 0 ? null : Encoding.UTF8.GetString(rest);
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
