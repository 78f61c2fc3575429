using LibKv.ZooKeeper.Client;

namespace LibKv.ZooKeeper;

/// <summary>
/// The keep-alive keys of a store with their last value and the session that carries them, so that they can be
/// written again on that session's successor. Delete, DeleteTree, a Put without keep-alive or dispose end one.
/// </summary>
internal sealed class KeepAliveKeys
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Makes <paramref name="key"/> a keep-alive key of <paramref name="client"/>'s session; the entry to check with <see cref="IsCurrent"/>.</summary>
    public Entry Set(string key, byte[] value, ZooKeeperClient client)
    {
        var entry = new Entry(key, value, client);
        lock (_entries)
        {
            _entries[key] = entry;
        }

        return entry;
    }

    /// <summary>Puts back an entry a failed write replaced (or removes the key when it had none).</summary>
    public void Restore(string key, Entry replacement, Entry? previous)
    {
        lock (_entries)
        {
            if (_entries.TryGetValue(key, out var current) && ReferenceEquals(current, replacement))
            {
                if (previous is null)
                {
                    _entries.Remove(key);
                }
                else
                {
                    _entries[key] = previous;
                }
            }
        }
    }

    /// <summary>The entry of <paramref name="key"/>, or null.</summary>
    public Entry? Get(string key)
    {
        lock (_entries)
        {
            return _entries.GetValueOrDefault(key);
        }
    }

    /// <summary>Ends the keep-alive of <paramref name="key"/>.</summary>
    public void Remove(string key)
    {
        lock (_entries)
        {
            _entries.Remove(key);
        }
    }

    /// <summary>Ends the keep-alive of <paramref name="directory"/> and every key under it ("" : all).</summary>
    public void RemoveTree(string directory)
    {
        lock (_entries)
        {
            foreach (var key in _entries.Keys.ToList())
            {
                if (directory.Length == 0 || key == directory || key.StartsWith(directory + "/", StringComparison.Ordinal))
                {
                    _entries.Remove(key);
                }
            }
        }
    }

    /// <summary>The keys carried by <paramref name="client"/>'s session.</summary>
    public Entry[] Of(ZooKeeperClient client)
    {
        lock (_entries)
        {
            return _entries.Values.Where(e => ReferenceEquals(e.Client, client)).ToArray();
        }
    }

    /// <summary>True while <paramref name="entry"/> is still the key's keep-alive.</summary>
    public bool IsCurrent(Entry entry)
    {
        lock (_entries)
        {
            return _entries.TryGetValue(entry.Key, out var current) && ReferenceEquals(current, entry);
        }
    }

    /// <summary>A keep-alive key: its last value and the session that carries it.</summary>
    public sealed record Entry(string Key, byte[] Value, ZooKeeperClient Client);
}
