namespace LibKv.Cli;

/// <summary>A command line that parses but makes no sense (say, a value both inline and from a file).</summary>
internal sealed class UsageException(string message) : Exception(message);
