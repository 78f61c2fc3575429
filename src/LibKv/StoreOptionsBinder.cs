using LibKv.Core;
using Microsoft.Extensions.Configuration;

namespace LibKv;

/// <summary>
/// Binds <see cref="StoreOptions"/> from configuration as a user writes it: <c>Endpoints</c> as a list or one
/// comma-separated string, durations as <c>5s</c>, <c>500ms</c> or <c>00:00:05</c>.
/// </summary>
public static class StoreOptionsBinder
{
    private static readonly string[] s_durations =
    [
        nameof(StoreOptions.ConnectionTimeout), nameof(StoreOptions.RequestTimeout), nameof(StoreOptions.SessionTimeout),
    ];

    /// <summary>Fills <paramref name="options"/> from <paramref name="section"/>; InvalidConfiguration names a value that is not a duration.</summary>
    public static void Bind(IConfiguration section, StoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(options);
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var endpoints = new List<string>();
        foreach (var child in section.GetChildren())
        {
            if (child.Key.Equals(nameof(StoreOptions.Endpoints), StringComparison.OrdinalIgnoreCase))
            {
                // A scalar ("a:1,b:2") and a list (Endpoints:0, Endpoints:1) are both endpoints.
                if (child.Value is { } scalar)
                {
                    endpoints.Add(scalar);
                }

                endpoints.AddRange(child.GetChildren().OrderBy(c => int.TryParse(c.Key, out var i) ? i : int.MaxValue).Select(c => c.Value).OfType<string>());
                continue;
            }

            if (s_durations.Contains(child.Key, StringComparer.OrdinalIgnoreCase) && child.Value is { } text)
            {
                if (!DurationText.TryParse(text, out var duration))
                {
                    throw new KvException(KvErrorCode.InvalidConfiguration, $"StoreOptions.{child.Key} '{text}' is not a duration: use e.g. 500ms, 5s, 2m or 00:00:05.");
                }

                data[child.Key] = duration.ToString("c");
                continue;
            }

            foreach (var (key, value) in child.AsEnumerable(makePathsRelative: false))
            {
                data[key] = value;
            }
        }

        // Bind the rest the usual way; keys were taken with their full paths, so strip the section's.
        var prefix = section is IConfigurationSection s ? s.Path + ConfigurationPath.KeyDelimiter : string.Empty;
        var flat = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in data)
        {
            flat[key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? key[prefix.Length..] : key] = value;
        }

        new ConfigurationBuilder().AddInMemoryCollection(flat).Build().Bind(options);
        if (endpoints.Count > 0)
        {
            options.Endpoints = Endpoint.Expand(endpoints);
        }
    }
}
