using System.Globalization;

namespace LibKv.Core;

/// <summary>Durations as people write them: <c>500ms</c>, <c>5s</c>, <c>2m</c>, <c>1h</c>, <c>00:00:05</c>, or a bare number of seconds.</summary>
public static class DurationText
{
    /// <summary>Parses a positive duration; false when <paramref name="text"/> is not one.</summary>
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

        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || number <= 0 || double.IsInfinity(number) || double.IsNaN(number))
        {
            return false;
        }

        value = TimeSpan.FromSeconds(number * factor);
        return true;
    }

    /// <summary>"1.5s", "250ms", "2m".</summary>
    public static string Format(TimeSpan value) =>
        value.TotalSeconds >= 120 && value.TotalMinutes == Math.Floor(value.TotalMinutes) ? $"{value.TotalMinutes:0}m"
        : value.TotalSeconds >= 1 ? $"{value.TotalSeconds.ToString("0.##", CultureInfo.InvariantCulture)}s"
        : $"{value.TotalMilliseconds.ToString("0.##", CultureInfo.InvariantCulture)}ms";
}
