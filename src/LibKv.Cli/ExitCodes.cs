namespace LibKv.Cli;

/// <summary>The process exit codes of the tool; each outcome has its own.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int NotFound = 2;
    public const int Unavailable = 3;
    public const int Conflict = 4;
    public const int Unauthorized = 5;
    public const int Usage = 64;
    public const int Cancelled = 130;

    public static int Of(KvErrorCode code) => code switch
    {
        KvErrorCode.KeyNotFound => NotFound,
        KvErrorCode.Unavailable => Unavailable,
        KvErrorCode.KeyExists or KvErrorCode.KeyModified => Conflict,
        KvErrorCode.Unauthorized => Unauthorized,
        KvErrorCode.UnknownBackend or KvErrorCode.InvalidConfiguration => Usage,
        _ => Failure,
    };
}
