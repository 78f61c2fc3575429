using System.Buffers.Binary;
using System.Text;

namespace LibKv.ZooKeeper.Jute;

/// <summary>Reads jute records from one received frame; throws <see cref="InvalidDataException"/> on a short frame.</summary>
internal ref struct JuteReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public JuteReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    public readonly int Remaining => _data.Length - _position;

    public int ReadInt() => BinaryPrimitives.ReadInt32BigEndian(Take(4));

    public long ReadLong() => BinaryPrimitives.ReadInt64BigEndian(Take(8));

    public bool ReadBool() => Take(1)[0] != 0;

    /// <summary>Reads a buffer; null when it was written with length -1.</summary>
    public byte[]? ReadBuffer()
    {
        var length = ReadInt();
        return length < 0 ? null : Take(length).ToArray();
    }

    public string? ReadString()
    {
        var length = ReadInt();
        return length < 0 ? null : Encoding.UTF8.GetString(Take(length));
    }

    public List<string> ReadStrings()
    {
        var count = ReadInt();
        var list = new List<string>(Math.Max(count, 0));
        for (var i = 0; i < count; i++)
        {
            list.Add(ReadString() ?? string.Empty);
        }

        return list;
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || _position + count > _data.Length)
        {
            throw new InvalidDataException("A ZooKeeper reply ended early.");
        }

        var span = _data.Slice(_position, count);
        _position += count;
        return span;
    }
}
