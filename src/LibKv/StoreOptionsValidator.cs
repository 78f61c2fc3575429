using Microsoft.Extensions.Options;

namespace LibKv;

/// <summary>Checks <see cref="StoreOptions"/> at start and names every problem in one message.</summary>
public sealed class StoreOptionsValidator : IValidateOptions<StoreOptions>
{
    private readonly StoreFactory? _factory;

    /// <summary>Validates against <see cref="StoreFactory.Default"/>.</summary>
    public StoreOptionsValidator()
    {
    }

    /// <summary>Validates against the factory the container uses.</summary>
    public StoreOptionsValidator(StoreFactory factory) => _factory = factory;

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, StoreOptions options)
    {
        var errors = Check(options, _factory ?? StoreFactory.Default);
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

        if (!isMemory && options.Tls is { } tls)
        {
            CheckFile(errors, "Tls.CaFile", tls.CaFile);
            CheckFile(errors, "Tls.CertificateFile", tls.CertificateFile);
            CheckFile(errors, "Tls.KeyFile", tls.KeyFile);
            if (string.IsNullOrEmpty(tls.CertificateFile) != string.IsNullOrEmpty(tls.KeyFile))
            {
                errors.Add("StoreOptions.Tls.CertificateFile and Tls.KeyFile go together: give both for mutual TLS, or neither.");
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

    private static void CheckFile(List<string> errors, string name, string? path)
    {
        if (path is not null && !File.Exists(path))
        {
            errors.Add($"StoreOptions.{name} '{path}' does not exist.");
        }
    }
}
