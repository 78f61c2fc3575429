using System.Text;

namespace LibKv.Cli;

/// <summary>Turns values into printable text and command-line input into values.</summary>
internal static class ValueText
{
    private static readonly UTF8Encoding s_strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The value as text when it is valid UTF-8 without control characters (tabs and newlines allowed), else its size.</summary>
    public static string Describe(byte[] value)
    {
        if (value.Length == 0)
        {
            return "";
        }

        try
        {
            var text = s_strict.GetString(value);
            foreach (var c in text)
            {
                if (char.IsControl(c) && c is not '\t' and not '\n' and not '\r')
                {
                    return Binary(value);
                }
            }

            return text;
        }
        catch (DecoderFallbackException)
        {
            return Binary(value);
        }
    }

    /// <summary>One line: newlines shown as <c>\n</c>.</summary>
    public static string DescribeLine(byte[] value) => Describe(value).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>The bytes of an inline value or of a file (<c>-</c> for standard input); exactly one must be given.</summary>
    public static async Task<byte[]> ReadAsync(string? inline, string? file, CancellationToken cancellationToken)
    {
        if (inline is not null && file is not null)
        {
            throw new UsageException("give the value either inline or with --file, not both");
        }

        if (file is null)
        {
            return inline is null ? throw new UsageException("missing value: give it inline or with --file PATH") : Encoding.UTF8.GetBytes(inline);
        }

        if (file == "-")
        {
            using var buffer = new MemoryStream();
            await using var stdin = Console.OpenStandardInput();
            await stdin.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer.ToArray();
        }

        return await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false);
    }

    private static string Binary(byte[] value) => $"<{value.Length} bytes>";
}
