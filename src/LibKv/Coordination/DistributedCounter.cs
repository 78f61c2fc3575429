using System.Globalization;
using System.Text;

namespace LibKv.Coordination;

/// <summary>
/// A shared 64-bit counter in one key (decimal ASCII); every <see cref="AddAsync"/> that returns was applied exactly
/// once, by compare-and-set. An outcome it cannot know is thrown, never retried.
/// </summary>
/// <code>
/// var visits = new DistributedCounter(store, "stats/visits");
/// long now = await visits.AddAsync(1);
/// </code>
public sealed class DistributedCounter
{
    private readonly IStore _store;

    /// <summary>A counter in <paramref name="key"/> of <paramref name="store"/>.</summary>
    public DistributedCounter(IStore store, string key)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        Key = KeyPath.Normalize(key);
    }

    /// <summary>The counter's key.</summary>
    public string Key { get; }

    /// <summary>The current value; 0 when the key is missing.</summary>
    public async ValueTask<long> GetAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return Parse(await _store.GetAsync(Key, cancellationToken: cancellationToken).ConfigureAwait(false));
        }
        catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound)
        {
            return 0;
        }
    }

    /// <summary>Adds <paramref name="delta"/> and returns the new value; a concurrent change is retried, an unknown outcome is thrown.</summary>
    public async ValueTask<long> AddAsync(long delta, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            KVPair? current;
            try
            {
                current = await _store.GetAsync(Key, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (KvException e) when (e.Code == KvErrorCode.KeyNotFound)
            {
                current = null;
            }

            var next = checked((current is null ? 0 : Parse(current)) + delta);
            try
            {
                // A CAS that lost a race changed nothing, so trying again cannot count twice; an unknown outcome is thrown.
                await _store.AtomicPutAsync(Key, Encoding.ASCII.GetBytes(next.ToString(CultureInfo.InvariantCulture)), current, cancellationToken: cancellationToken).ConfigureAwait(false);
                return next;
            }
            catch (KvException e) when (e.Code is KvErrorCode.KeyModified or KvErrorCode.KeyExists or KvErrorCode.KeyNotFound && !e.OutcomeUnknown)
            {
            }
        }
    }

    private long Parse(KVPair pair)
    {
        if (pair.Value.Length == 0)
        {
            return 0;
        }

        var text = Encoding.ASCII.GetString(pair.Value);
        return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new InvalidDataException($"The counter key '{Key}' holds '{(text.Length > 40 ? text[..40] + "…" : text)}', not a decimal integer.");
    }
}
