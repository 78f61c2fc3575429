using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace LibKv.ZooKeeper.Jute;

/// <summary>Writes jute records (big-endian, length-prefixed buffers and strings) into a growable pooled buffer.</summary>
internal sealed class JuteWriter : IDisposable
{
    private byte[] _buffer;
    private int _position;

    public JuteWriter(int initialCapacity = 256)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);
    }

    /// <summary>Bytes written so far.</summary>
    public int Length => _position;

    /// <summary>The written bytes; valid until the next write or dispose.</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _position);

    /// <summary>Reserves four bytes for the frame length, to be filled by <see cref="PatchFrameLength"/>.</summary>
    public void BeginFrame() => WriteInt(0);

    /// <summary>Writes the frame length (everything after the first four bytes) into the reserved slot.</summary>
    public void PatchFrameLength() => BinaryPrimitives.WriteInt32BigEndian(_buffer, _position - 4);

    public void WriteInt(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(Reserve(4), value);
        _position += 4;
    }

    public void WriteLong(long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(Reserve(8), value);
        _position += 8;
    }

    public void WriteBool(bool value)
    {
        Reserve(1)[0] = value ? (byte)1 : (byte)0;
        _position += 1;
    }

    /// <summary>Writes a buffer; null is written as length -1 (ZooKeeper keeps null apart from empty).</summary>
    public void WriteBuffer(ReadOnlySpan<byte> value, bool isNull = false)
    {
        if (isNull)
        {
            WriteInt(-1);
            return;
        }

        WriteInt(value.Length);
        value.CopyTo(Reserve(value.Length));
        _position += value.Length;
    }

    public void WriteString(string? value)
    {
        if (value is null)
        {
            WriteInt(-1);
            return;
        }

        var count = Encoding.UTF8.GetByteCount(value);
        WriteInt(count);
        Encoding.UTF8.GetBytes(value, Reserve(count));
        _position += count;
    }

    public void WriteStrings(IReadOnlyCollection<string> values)
    {
        WriteInt(values.Count);
        foreach (var v in values)
        {
            WriteString(v);
        }
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = Array.Empty<byte>();
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private Span<byte> Reserve(int count)
    {
        if (_position + count > _buffer.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _position + count));
            _buffer.AsSpan(0, _position).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }

        return _buffer.AsSpan(_position, count);
    }
}
