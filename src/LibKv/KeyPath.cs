using System.Text;

namespace LibKv;

/// <summary>Validates and normalizes keys as the contract defines them; every backend calls it before anything is sent.</summary>
public static class KeyPath
{
    /// <summary>The longest key, in UTF-8 bytes after trimming.</summary>
    public const int MaxKeyBytes = 4096;

    /// <summary>Returns the trimmed form of a key, or throws <see cref="ArgumentException"/> when it is not a valid key.</summary>
    public static string Normalize(string key, string paramName = "key") => Validate(key, paramName, allowEmpty: false);

    /// <summary>Returns the trimmed form of a directory; <c>""</c> (the whole store) is allowed.</summary>
    public static string NormalizeDirectory(string directory, string paramName = "directory") => Validate(directory, paramName, allowEmpty: true);

    /// <summary>True when <paramref name="key"/> lies under <paramref name="directory"/> (or anywhere, for <c>""</c>); both normalized.</summary>
    public static bool IsUnder(string key, string directory) =>
        directory.Length == 0
            ? key.Length > 0
            : key.Length > directory.Length + 1 && key[directory.Length] == '/' && key.StartsWith(directory, StringComparison.Ordinal);

    /// <summary>True when <paramref name="key"/> is <paramref name="directory"/> itself or lies under it.</summary>
    public static bool IsInTree(string key, string directory) =>
        directory.Length == 0 || string.Equals(key, directory, StringComparison.Ordinal) || IsUnder(key, directory);

    /// <summary>Joins a store root and a normalized key; the root may be null or empty.</summary>
    public static string Combine(string? root, string key) =>
        string.IsNullOrEmpty(root) ? key : key.Length == 0 ? root : root + "/" + key;

    /// <summary>Strips a store root from a full key; returns null when the key is not under the root.</summary>
    public static string? StripRoot(string? root, string fullKey)
    {
        if (string.IsNullOrEmpty(root))
        {
            return fullKey;
        }

        if (fullKey.Length > root.Length + 1 && fullKey[root.Length] == '/' && fullKey.StartsWith(root, StringComparison.Ordinal))
        {
            return fullKey[(root.Length + 1)..];
        }

        return null;
    }

    /// <summary>Normalizes a store root (null or a valid key).</summary>
    public static string? NormalizeRoot(string? root) =>
        string.IsNullOrWhiteSpace(root) || root.Trim('/').Length == 0 ? null : Normalize(root, nameof(StoreOptions.Root));

    private static string Validate(string key, string paramName, bool allowEmpty)
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        var trimmed = key.Trim('/');
        if (trimmed.Length == 0)
        {
            if (allowEmpty)
            {
                return string.Empty;
            }

            throw new ArgumentException($"The key '{key}' is empty after trimming '/'.", paramName);
        }

        var segmentStart = 0;
        for (var i = 0; i <= trimmed.Length; i++)
        {
            if (i == trimmed.Length || trimmed[i] == '/')
            {
                var length = i - segmentStart;
                if (length == 0)
                {
                    throw new ArgumentException($"The key '{Printable(key)}' has an empty segment.", paramName);
                }

                if ((length == 1 && trimmed[segmentStart] == '.') || (length == 2 && trimmed[segmentStart] == '.' && trimmed[segmentStart + 1] == '.'))
                {
                    throw new ArgumentException($"The key '{Printable(key)}' has a '.' or '..' segment.", paramName);
                }

                segmentStart = i + 1;
                continue;
            }

            var c = trimmed[i];
            if (c < 0x20 || c == 0x7F)
            {
                throw new ArgumentException($"The key '{Printable(key)}' has a control character (U+{(int)c:X4}).", paramName);
            }
        }

        if (trimmed.Length > MaxKeyBytes / 3 && Encoding.UTF8.GetByteCount(trimmed) > MaxKeyBytes)
        {
            throw new ArgumentException($"The key is longer than {MaxKeyBytes} UTF-8 bytes.", paramName);
        }

        return trimmed;
    }

    private static string Printable(string key)
    {
        var sb = new StringBuilder(Math.Min(key.Length, 200));
        foreach (var c in key.Length > 200 ? key[..200] : key)
        {
            sb.Append(c < 0x20 || c == 0x7F ? $"\\u{(int)c:X4}" : c.ToString());
        }

        return sb.ToString();
    }
}
