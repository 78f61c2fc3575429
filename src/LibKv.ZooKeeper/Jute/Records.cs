namespace LibKv.ZooKeeper.Jute;

/// <summary>ZooKeeper operation codes (org.apache.zookeeper.ZooDefs.OpCode).</summary>
internal static class OpCode
{
    public const int Notification = 0;
    public const int Create = 1;
    public const int Delete = 2;
    public const int Exists = 3;
    public const int GetData = 4;
    public const int SetData = 5;
    public const int SetAcl = 7;
    public const int GetChildren = 8;
    public const int Sync = 9;
    public const int Ping = 11;
    public const int GetChildren2 = 12;
    public const int Check = 13;
    public const int Multi = 14;
    public const int Create2 = 15;
    public const int RemoveWatches = 18;
    public const int CreateContainer = 19;
    public const int CreateTtl = 21;
    public const int Auth = 100;
    public const int SetWatches2 = 105;
    public const int AddWatch = 106;
    public const int CloseSession = -11;
    public const int Error = -1;

    /// <summary>True for a request that changes data: its late application cannot be ruled out once it was sent.</summary>
    public static bool IsWrite(int opCode) =>
        opCode is Create or Delete or SetData or SetAcl or Multi or Create2 or CreateContainer or CreateTtl;
}

/// <summary>Reserved xids of the protocol.</summary>
internal static class Xid
{
    public const int Notification = -1;
    public const int Ping = -2;
    public const int Auth = -4;
    public const int SetWatches = -8;
}

/// <summary>Node create modes (the flags of a create request).</summary>
internal enum CreateMode
{
    Persistent = 0,
    Ephemeral = 1,
    PersistentSequential = 2,
    EphemeralSequential = 3,
    Container = 4,
    PersistentWithTtl = 5,
}

/// <summary>Watcher event types.</summary>
internal enum WatchEventType
{
    None = -1,
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
    DataWatchRemoved = 5,
    ChildWatchRemoved = 6,
    PersistentWatchRemoved = 7,
}

/// <summary>Modes of addWatch.</summary>
internal enum AddWatchMode
{
    Persistent = 0,
    PersistentRecursive = 1,
}

/// <summary>An access control entry: permissions for an id of a scheme.</summary>
internal readonly record struct Acl(int Perms, string Scheme, string Id)
{
    public const int All = 31;

    public static readonly Acl[] OpenUnsafe = { new(All, "world", "anyone") };

    public static readonly Acl[] CreatorAll = { new(All, "auth", string.Empty) };

    public static void Write(JuteWriter w, IReadOnlyList<Acl> acls)
    {
        w.WriteInt(acls.Count);
        foreach (var acl in acls)
        {
            w.WriteInt(acl.Perms);
            w.WriteString(acl.Scheme);
            w.WriteString(acl.Id);
        }
    }
}

/// <summary>The stat structure of a znode.</summary>
internal sealed record Stat(long Czxid, long Mzxid, long Ctime, long Mtime, int Version, int Cversion, int Aversion, long EphemeralOwner, int DataLength, int NumChildren, long Pzxid)
{
    /// <summary>
    /// True for a node LibKv wrote as a TTL node: servers report a TTL node's owner as 0, so LibKv marks its TTL
    /// nodes by bumping their ACL version right after creating them.
    /// </summary>
    public bool IsMarkedTtl => Aversion != 0;

    public static Stat Read(ref JuteReader r) =>
        new(r.ReadLong(), r.ReadLong(), r.ReadLong(), r.ReadLong(), r.ReadInt(), r.ReadInt(), r.ReadInt(), r.ReadLong(), r.ReadInt(), r.ReadInt(), r.ReadLong());
}

/// <summary>A watch notification (WatcherEvent).</summary>
internal readonly record struct WatchEvent(WatchEventType Type, int State, string Path);

/// <summary>Data and stat of a node.</summary>
internal sealed record NodeData(byte[]? Data, Stat Stat);

/// <summary>One operation of a multi request.</summary>
internal abstract record MultiOp(string Path)
{
    public abstract int Type { get; }

    public abstract void Write(JuteWriter w);

    public sealed record CreateOp(string Path, ReadOnlyMemory<byte>? Data, IReadOnlyList<Acl> Acls, CreateMode Mode, long TtlMs = 0) : MultiOp(Path)
    {
        public override int Type => Mode == CreateMode.PersistentWithTtl ? OpCode.CreateTtl : OpCode.Create2;

        public override void Write(JuteWriter w)
        {
            w.WriteString(Path);
            w.WriteBuffer(Data is { } d ? d.Span : default, isNull: Data is null);
            Acl.Write(w, Acls);
            w.WriteInt((int)Mode);
            if (Mode == CreateMode.PersistentWithTtl)
            {
                w.WriteLong(TtlMs);
            }
        }
    }

    public sealed record DeleteOp(string Path, int Version) : MultiOp(Path)
    {
        public override int Type => OpCode.Delete;

        public override void Write(JuteWriter w)
        {
            w.WriteString(Path);
            w.WriteInt(Version);
        }
    }

    public sealed record SetDataOp(string Path, ReadOnlyMemory<byte>? Data, int Version) : MultiOp(Path)
    {
        public override int Type => OpCode.SetData;

        public override void Write(JuteWriter w)
        {
            w.WriteString(Path);
            w.WriteBuffer(Data is { } d ? d.Span : default, isNull: Data is null);
            w.WriteInt(Version);
        }
    }

    public sealed record CheckOp(string Path, int Version) : MultiOp(Path)
    {
        public override int Type => OpCode.Check;

        public override void Write(JuteWriter w)
        {
            w.WriteString(Path);
            w.WriteInt(Version);
        }
    }
}

/// <summary>The outcome of one operation of a multi: its error code and, for creates and setData, the stat.</summary>
internal readonly record struct MultiResult(int Error, Stat? Stat, string? Path);

/// <summary>Writes and reads the multi transaction records.</summary>
internal static class MultiCodec
{
    public static void Write(JuteWriter w, IReadOnlyList<MultiOp> ops)
    {
        foreach (var op in ops)
        {
            w.WriteInt(op.Type);
            w.WriteBool(false);
            w.WriteInt(-1);
            op.Write(w);
        }

        w.WriteInt(-1);
        w.WriteBool(true);
        w.WriteInt(-1);
    }

    public static List<MultiResult> Read(ref JuteReader r)
    {
        var results = new List<MultiResult>();
        while (true)
        {
            var type = r.ReadInt();
            var done = r.ReadBool();
            var err = r.ReadInt();
            if (done)
            {
                return results;
            }

            switch (type)
            {
                case OpCode.Create:
                    results.Add(new MultiResult(0, null, r.ReadString()));
                    break;
                case OpCode.Create2:
                case OpCode.CreateTtl:
                case OpCode.CreateContainer:
                    var path = r.ReadString();
                    results.Add(new MultiResult(0, Stat.Read(ref r), path));
                    break;
                case OpCode.SetData:
                    results.Add(new MultiResult(0, Stat.Read(ref r), null));
                    break;
                case OpCode.Delete:
                case OpCode.Check:
                    results.Add(new MultiResult(0, null, null));
                    break;
                case OpCode.Error:
                    results.Add(new MultiResult(r.ReadInt(), null, null));
                    break;
                default:
                    throw new InvalidDataException($"Unexpected multi result type {type} (err {err}).");
            }
        }
    }
}
