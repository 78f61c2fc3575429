using System.Globalization;
using System.Text;

namespace LibKv.ZooKeeper;

/// <summary>
/// Maps the contract's keys to znode paths under the store root and back. Characters ZooKeeper refuses in a path
/// (U+0080–U+009F, U+D800–U+F8FF, U+FFF0–U+FFFF) and '%' itself are written as "%XXXX", so a segment starting with
/// '%' and not followed by four hex digits (such as the lock namespace "%locks") can never come from a user key.
/// </summary>
internal sealed class ZooKeeperPaths
{
    /// <summary>The name of the internal lock namespace directly under the root.</summary>
    public const string LocksName = "%locks";

    private readonly string _prefix;

    public ZooKeeperPaths(string? root)
    {
        _prefix = string.IsNullOrEmpty(root) ? string.Empty : "/" + Escape(root, topLevel: true);
        RootPath = _prefix.Length == 0 ? "/" : _prefix;
        LocksPath = _prefix + "/" + LocksName;
    }

    /// <summary>The znode of the store root ("/" without a root).</summary>
    public string RootPath { get; }

    /// <summary>The znode of the lock namespace.</summary>
    public string LocksPath { get; }

    /// <summary>True when the store has no root, so "/zookeeper" is a sibling to hide.</summary>
    public bool AtServerRoot => _prefix.Length == 0;

    /// <summary>The znode of a normalized key; "" is the root.</summary>
    public string PathOf(string key) => key.Length == 0 ? RootPath : _prefix + "/" + Escape(key, topLevel: _prefix.Length == 0);

    /// <summary>The lock directory of a key.</summary>
    public string LockDirOf(string key) => LocksPath + "/" + Escape(key, topLevel: false);

    /// <summary>A child's key from its parent's key and the child's node name.</summary>
    public static string ChildKey(string parentKey, string name) => parentKey.Length == 0 ? Unescape(name) : parentKey + "/" + Unescape(name);

    /// <summary>True when a child of <paramref name="parentPath"/> named <paramref name="name"/> is bookkeeping, not a key.</summary>
    public bool IsInternalChild(string parentPath, string name) =>
        string.Equals(parentPath, RootPath, StringComparison.Ordinal) &&
        (string.Equals(name, LocksName, StringComparison.Ordinal) || (AtServerRoot && string.Equals(name, "zookeeper", StringComparison.Ordinal)));

    /// <summary>True when <paramref name="path"/> is the lock namespace or lies in it.</summary>
    public bool IsInLocks(string path) =>
        path.StartsWith(LocksPath, StringComparison.Ordinal) && (path.Length == LocksPath.Length || path[LocksPath.Length] == '/');

    /// <summary>True when <paramref name="path"/> is the root or lies under it.</summary>
    public bool IsInStore(string path) =>
        _prefix.Length == 0 || string.Equals(path, RootPath, StringComparison.Ordinal) || (path.StartsWith(_prefix, StringComparison.Ordinal) && path.Length > _prefix.Length && path[_prefix.Length] == '/');

    /// <summary>The parent znode path ("/" for a top-level node).</summary>
    public static string Parent(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    /// <summary>Every ancestor of <paramref name="path"/> below "/", top-down, excluding the path itself.</summary>
    public static List<string> Ancestors(string path)
    {
        var list = new List<string>();
        for (var i = 1; i < path.Length; i++)
        {
            if (path[i] == '/')
            {
                list.Add(path[..i]);
            }
        }

        return list;
    }

    private static bool NeedsEscape(char c) => c == '%' || (c >= '\u0080' && c <= '\u009F') || (c >= '\uD800' && c <= '\uF8FF') || c >= '\uFFF0';

    private static string Escape(string key, bool topLevel)
    {
        var needs = false;
        foreach (var c in key)
        {
            if (NeedsEscape(c))
            {
                needs = true;
                break;
            }
        }

        // ZooKeeper owns "/zookeeper"; a top-level key of that name is stored escaped.
        var reserved = topLevel && (key == "zookeeper" || key.StartsWith("zookeeper/", StringComparison.Ordinal));
        if (!needs && !reserved)
        {
            return key;
        }

        var sb = new StringBuilder(key.Length + 16);
        for (var i = 0; i < key.Length; i++)
        {
            var c = key[i];
            if (NeedsEscape(c) || (reserved && i == 0))
            {
                sb.Append('%').Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    private static string Unescape(string name)
    {
        if (!name.Contains('%', StringComparison.Ordinal))
        {
            return name;
        }

        var sb = new StringBuilder(name.Length);
        for (var i = 0; i < name.Length; i++)
        {
            if (name[i] == '%' && i + 4 < name.Length && int.TryParse(name.AsSpan(i + 1, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
            {
                sb.Append((char)code);
                i += 4;
            }
            else
            {
                sb.Append(name[i]);
            }
        }

        return sb.ToString();
    }
}
