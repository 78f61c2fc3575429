using System.CommandLine;
using System.CommandLine.Parsing;
using LibKv.Core;

namespace LibKv.Cli;

/// <summary>Parses and prints durations such as <c>500ms</c>, <c>10s</c>, <c>2m</c>, <c>1h</c>; a bare number is seconds.</summary>
internal static class Durations
{
    public static bool TryParse(string? text, out TimeSpan value) => DurationText.TryParse(text, out value);

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
    public static string Format(TimeSpan value) => DurationText.Format(value);

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
