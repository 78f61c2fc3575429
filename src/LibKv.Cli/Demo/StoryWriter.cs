using System.Diagnostics;
using System.Globalization;

namespace LibKv.Cli.Demo;

/// <summary>Prints the demo's lines with a timestamp relative to its start, e.g. <c>[+1.2s]</c>; safe from any thread.</summary>
internal sealed class StoryWriter(CliContext context)
{
    private readonly long _start = Stopwatch.GetTimestamp();

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_start);

    public string Stamp => "[+" + Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s]";

    /// <summary>A numbered chapter heading.</summary>
    public void Step(int number, string text) => context.WriteLine($"{Stamp} {number}. {text}");

    /// <summary>A line inside the current chapter.</summary>
    public void Say(string text) => context.WriteLine($"{Stamp}    {text}");

    /// <summary>A line without a timestamp.</summary>
    public void Plain(string text) => context.WriteLine(text);
}
