using System.Buffers;
using System.Buffers.Binary;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace LibKv.Etcd.Grpc;

/// <summary>The application/grpc length-prefixed framing: 1 byte compressed flag, 4 bytes big-endian length, message.</summary>
internal static class GrpcFraming
{
    public const int HeaderSize = 5;

    public static readonly MediaTypeHeaderValue ContentType = new("application/grpc");

    /// <summary>Serializes one framed message into a new array (one allocation, no further copy).</summary>
    public static byte[] Frame(IMessage message)
    {
        var size = message.CalculateSize();
        var buffer = new byte[HeaderSize + size];
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(1), (uint)size);
        message.WriteTo(buffer.AsSpan(HeaderSize));
        return buffer;
    }

    /// <summary>Reads one message, or returns null at the end of the stream.</summary>
    public static async ValueTask<T?> ReadAsync<T>(Stream stream, MessageParser<T> parser, byte[] header, string endpoint, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        var read = 0;
        while (read < HeaderSize)
        {
            var n = await stream.ReadAsync(header.AsMemory(read, HeaderSize - read), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                if (read == 0)
                {
                    return null;
                }

                throw new GrpcException(GrpcStatusCode.Internal, "The response ended inside a message header.", endpoint);
            }

            read += n;
        }

        if (header[0] != 0)
        {
            throw new GrpcException(GrpcStatusCode.Internal, "A compressed message arrived though no compression was negotiated.", endpoint);
        }

        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1));
        if (length < 0)
        {
            throw new GrpcException(GrpcStatusCode.ResourceExhausted, "The response message is too large.", endpoint);
        }

        var body = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            await stream.ReadExactlyAsync(body.AsMemory(0, length), cancellationToken).ConfigureAwait(false);

            // Parsing copies every bytes field once into its own array, so the pooled buffer can go back at once.
            return parser.ParseFrom(new ReadOnlySpan<byte>(body, 0, length));
        }
        catch (EndOfStreamException e)
        {
            throw new GrpcException(GrpcStatusCode.Internal, "The response ended inside a message.", endpoint, inner: e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }
}
