using Microsoft.Extensions.Options;

namespace LibKv;

/// <summary>Checks <see cref="StoreOptions"/> at start and names every problem in one message.</summary>
public sealed class StoreOptionsValidator : IValidateOptions<StoreOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, StoreOptions options)
    {
        var errors = Check(options, StoreFactory.Default);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Returns every problem of <paramref name="options"/>; empty when they are valid.</summary>
    public static IReadOnlyList<string> Check(StoreOptions options, StoreFactory factory)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Backend))
        {
            errors.Add("StoreOptions.Backend is required (one of: " + string.Join(", ", factory.Backends) + ").");
        }
        else if (!factory.IsKnown(options.Backend))
        {
            errors.Add($"StoreOptions.Backend '{options.Backend}' is unknown; known: {string.Join(", ", factory.Backends)}. {StoreFactory.PackageHint(options.Backend)}".TrimEnd());
        }

        if (options.ConnectionTimeout <= TimeSpan.Zero)
        {
            errors.Add("StoreOptions.ConnectionTimeout must be positive.");
        }

        if (options.RequestTimeout <= TimeSpan.Zero)
        {
            errors.Add("StoreOptions.RequestTimeout must be positive.");
        }

        if (options.SessionTimeout <= TimeSpan.Zero)
        {
            errors.Add("StoreOptions.SessionTimeout must be positive.");
        }

        var isMemory = StoreFactory.IsMemoryName(options.Backend);
        if (options.Endpoints?.Any(string.IsNullOrWhiteSpace) == true)
        {
            errors.Add("StoreOptions.Endpoints has an empty entry.");
        }

        foreach (var endpoint in isMemory ? [] : Endpoint.Expand(options.Endpoints))
        {
            if (!Endpoint.TryParse(endpoint, out KvEndpoint _, out var error))
            {
                errors.Add($"StoreOptions.Endpoints: {error}.");
            }
        }

        if (options.Root is not null && options.Root.Trim('/').Length > 0)
        {
            try
            {
                KeyPath.Normalize(options.Root, nameof(StoreOptions.Root));
            }
            catch (ArgumentException e)
            {
                errors.Add("StoreOptions.Root is not a valid key: " + e.Message);
            }
        }

        return errors;
    }
}
