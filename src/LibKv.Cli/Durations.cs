using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace LibKv.Cli;

/// <summary>Parses and prints durations such as <c>500ms</c>, <c>10s</c>, <c>2m</c>, <c>1h</c>; a bare number is seconds.</summary>
internal static class Durations
{
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var s = text.Trim();
        if (s.Contains(':', StringComparison.Ordinal))
        {
            return TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value) && value > TimeSpan.Zero;
        }

        (string Suffix, double Seconds)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)];
        var factor = 1.0;
        foreach (var (suffix, seconds) in units)
        {
            if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                factor = seconds;
                s = s[..^suffix.Length];
                break;
            }
        }

        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || number <= 0 || double.IsInfinity(number))
        {
            return false;
        }

        value = TimeSpan.FromSeconds(number * factor);
        return true;
    }

    public static Option<TimeSpan?> NullableOption(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = Parse,
    };

    public static Option<TimeSpan> Option(string name, string description, TimeSpan defaultValue) => new(name)
    {
        Description = description,
        CustomParser = result => Parse(result) ?? defaultValue,
        DefaultValueFactory = _ => defaultValue,
    };

    /// <summary>"1.5s", "250ms", "2m".</summary>
    public static string Format(TimeSpan value) =>
        value.TotalSeconds >= 120 && value.TotalMinutes == Math.Floor(value.TotalMinutes) ? $"{value.TotalMinutes:0}m"
        : value.TotalSeconds >= 1 ? $"{value.TotalSeconds.ToString("0.##", CultureInfo.InvariantCulture)}s"
        : $"{value.TotalMilliseconds.ToString("0.##", CultureInfo.InvariantCulture)}ms";

    private static TimeSpan? Parse(ArgumentResult result)
    {
        var token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : null;
        if (TryParse(token, out var value))
        {
            return value;
        }

        result.AddError($"'{token}' is not a duration: use e.g. 500ms, 10s, 2m or a number of seconds.");
        return null;
    }
}
