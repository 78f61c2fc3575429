using LibKv.ZooKeeper.Jute;

namespace LibKv.ZooKeeper.Client;

/// <summary>Parses a reply body.</summary>
internal delegate T ReplyParser<out T>(ref JuteReader reader);

/// <summary>A request sent and not yet answered; replies arrive in the order requests were written.</summary>
internal abstract class Pending
{
    protected Pending(int xid, int opCode, string path)
    {
        Xid = xid;
        OpCode = opCode;
        Path = path;
    }

    public int Xid { get; }

    public int OpCode { get; }

    public string Path { get; }

    /// <summary>When the writer put the request on the socket (a TimeProvider timestamp); set before the reply can come.</summary>
    public long SentAt { get; set; }

    /// <summary>Completes the request from its reply (header error and body).</summary>
    public abstract void Complete(int error, ref JuteReader body);

    /// <summary>Fails the request (connection lost, client closed).</summary>
    public abstract void Fail(Exception error);
}

/// <summary>A pending request whose reply is parsed into <typeparamref name="T"/>.</summary>
internal sealed class Pending<T> : Pending
{
    private readonly TaskCompletionSource<T> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ReplyParser<T> _parser;

    public Pending(int xid, int opCode, string path, ReplyParser<T> parser)
        : base(xid, opCode, path)
    {
        _parser = parser;
    }

    public Task<T> Task => _tcs.Task;

    public override void Complete(int error, ref JuteReader body)
    {
        if (error != ZooKeeperErrors.Ok && !(OpCode == Jute.OpCode.Multi && body.Remaining > 0))
        {
            _tcs.TrySetException(new ZooKeeperException(error, Path));
            return;
        }

        try
        {
            _tcs.TrySetResult(_parser(ref body));
        }
        catch (Exception e)
        {
            _tcs.TrySetException(error != ZooKeeperErrors.Ok ? new ZooKeeperException(error, Path) : e);
        }
    }

    public override void Fail(Exception error) => _tcs.TrySetException(error);
}

/// <summary>An encoded request frame waiting for the writer; owns its pooled buffer.</summary>
internal sealed class OutFrame(JuteWriter buffer, Pending? pending)
{
    private volatile bool _taken;

    public JuteWriter Buffer { get; } = buffer;

    public Pending? Pending { get; } = pending;

    /// <summary>A ping: its send time is kept until the answer comes.</summary>
    public bool IsPing { get; init; }

    /// <summary>Set by the writer loop before the frame's bytes go to the socket.</summary>
    public bool Taken
    {
        get => _taken;
        set => _taken = value;
    }
}
