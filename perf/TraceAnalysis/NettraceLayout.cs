using System;
using System.Buffers.Binary;
using System.IO;
using System.Text;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// The block structure of a nettrace (format V4/V5, FastSerialization), checked without decoding
/// an event: it tells a file cut short (every object well formed up to where the bytes run out)
/// from a damaged one (an object that is not what the format allows), which TraceEvent's own
/// exceptions do not.
/// </summary>
/// <remarks>
/// <para>The layout, as the runtime writes it: <c>"Nettrace"</c>, the length-prefixed
/// <c>"!FastSerialization.1"</c>, the <c>Trace</c> object, then blocks, then the end marker
/// (the NullReference tag, 1) as the last byte. Every object is BeginPrivateObject (5), its type
/// (5, NullReference 1, version and minimum reader version as int32, the name length-prefixed,
/// EndObject 6), its payload, EndObject (6). The <c>Trace</c> payload is 48 bytes of fixed fields;
/// a block's is an int32 size, padding to a 4-byte boundary of the file, and that many bytes.</para>
/// <para>A file with some other header (a later format) is <see cref="Kind.Unknown"/>: the caller
/// leaves it to TraceEvent.</para>
/// </remarks>
internal readonly record struct NettraceLayout(NettraceLayout.Kind Result, string Detail, int Blocks)
{
    private const byte NullReferenceTag = 1;
    private const byte BeginPrivateObjectTag = 5;
    private const byte EndObjectTag = 6;
    private const int TracePayloadBytes = 48;
    private const int MaxTypeName = 64;

    // Metadata blocks are a few KiB (one per batch of new event types); a larger one is read by
    // TraceEvent unchecked rather than held here whole.
    private const int MaxCheckedMetadataBlock = 16 << 20;

    private static ReadOnlySpan<byte> Magic => "Nettrace"u8;

    private static ReadOnlySpan<byte> SerializationHeader => "!FastSerialization.1"u8;

    /// <summary>What the structure says.</summary>
    public enum Kind
    {
        /// <summary>Every object is well formed and the end marker is the last byte.</summary>
        Complete,

        /// <summary>Well formed until the bytes run out: a session stopped early, or a copy cut short.</summary>
        Truncated,

        /// <summary>An object the format does not allow, or bytes after the end marker.</summary>
        Corrupt,

        /// <summary>Not the V4/V5 layout this checks; TraceEvent decides.</summary>
        Unknown,
    }

    /// <summary>Walks the objects of <paramref name="stream"/> from its start (the magic already checked by the caller, or not).</summary>
    public static NettraceLayout Check(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return new Walker(stream).Run();
    }

    /// <summary>Reads the objects one after another, counting complete blocks.</summary>
    private sealed class Walker(Stream stream)
    {
        private readonly long _length = stream.Length;
        private int _blocks;

        public NettraceLayout Run()
        {
            Span<byte> magic = stackalloc byte[8];
            if (!TryRead(magic))
                return Cut("inside the \"Nettrace\" magic");
            if (!magic.SequenceEqual(Magic))
                return Damaged(0, "it does not begin with \"Nettrace\"");
            if (!TryInt32(out int headerLength))
                return Cut("inside the serialization header");
            if (headerLength != SerializationHeader.Length)
                return new NettraceLayout(Kind.Unknown, "", 0);
            Span<byte> header = stackalloc byte[SerializationHeader.Length];
            if (!TryRead(header))
                return Cut("inside the serialization header");
            if (!header.SequenceEqual(SerializationHeader))
                return new NettraceLayout(Kind.Unknown, "", 0);

            if (ObjectHeader(out string? type, out NettraceLayout problem) is false)
                return problem;
            if (type != "Trace")
                return Damaged(Position, $"the first object is {FaultPath.EchoedText.Quote(type)}, expected \"Trace\"");
            if (!TrySkip(TracePayloadBytes))
                return Cut("inside the Trace object");
            if (EndObject("the Trace object") is { } badEnd)
                return badEnd;

            while (true)
            {
                long at = Position;
                if (!TryByte(out byte tag))
                    return Cut("after the last block, before the end-of-stream marker");
                if (tag == NullReferenceTag)
                {
                    return Position == _length
                        ? new NettraceLayout(Kind.Complete, "", _blocks)
                        : Damaged(at, _length - Position == 1 ? "a byte follows the end-of-stream marker" : $"{_length - Position} bytes follow the end-of-stream marker");
                }

                if (tag != BeginPrivateObjectTag)
                    return Damaged(at, $"byte 0x{tag:X2} where a block or the end marker (5 or 1) should begin");
                if (TypeOf(at, out string? name, out NettraceLayout typeProblem) is false)
                    return typeProblem;
                if (name is not ("EventBlock" or "MetadataBlock" or "StackBlock" or "SPBlock"))
                    return Damaged(at, $"an object of type {FaultPath.EchoedText.Quote(name)}, expected a block");
                if (!TryInt32(out int size))
                    return Cut($"inside the size of {name} {_blocks + 1}");
                if (size < 0)
                    return Damaged(at, $"{name} {_blocks + 1} declares {size} bytes");
                int padding = (int)((4 - (Position & 3)) & 3);
                if (_length - Position < padding + (long)size)
                    return Cut($"inside {name} {_blocks + 1} (it begins at byte {at} and declares {size} bytes, {Math.Max(0, _length - Position - padding)} of them present)");
                TrySkip(padding);
                if (name == "MetadataBlock" && size <= MaxCheckedMetadataBlock)
                {
                    byte[] bytes = new byte[size];
                    TryRead(bytes);
                    if (NettraceMetadata.FindImpossibleFieldCount(bytes) is { } impossible)
                        return Damaged(at, $"in {name} {_blocks + 1}, {impossible}");
                }
                else
                {
                    TrySkip(size);
                }

                if (EndObject($"{name} {_blocks + 1}") is { } blockEnd)
                    return blockEnd;
                _blocks++;
            }
        }

        private long Position => stream.Position;

        /// <summary>BeginPrivateObject and the type that follows it.</summary>
        private bool ObjectHeader(out string? type, out NettraceLayout problem)
        {
            type = null;
            long at = Position;
            if (!TryByte(out byte tag))
            {
                problem = Cut("before the Trace object");
                return false;
            }

            if (tag != BeginPrivateObjectTag)
            {
                problem = Damaged(at, $"byte 0x{tag:X2} where the Trace object should begin");
                return false;
            }

            return TypeOf(at, out type, out problem);
        }

        /// <summary>The type part of an object: 5, 1, version, minimum version, name, 6.</summary>
        private bool TypeOf(long at, out string? name, out NettraceLayout problem)
        {
            name = null;
            problem = default;
            if (!TryByte(out byte begin) || !TryByte(out byte nullTag) || !TryInt32(out _) || !TryInt32(out _) || !TryInt32(out int length))
            {
                problem = Cut($"inside the type of the object at byte {at}");
                return false;
            }

            if (begin != BeginPrivateObjectTag || nullTag != NullReferenceTag || length <= 0 || length > MaxTypeName)
            {
                problem = Damaged(at, "an object whose type is not well formed");
                return false;
            }

            Span<byte> text = stackalloc byte[length];
            if (!TryRead(text))
            {
                problem = Cut($"inside the type name of the object at byte {at}");
                return false;
            }

            name = Encoding.ASCII.GetString(text);
            if (!TryByte(out byte end))
            {
                problem = Cut($"inside the type of the object at byte {at}");
                return false;
            }

            if (end != EndObjectTag)
            {
                problem = Damaged(at, "an object whose type is not well formed");
                return false;
            }

            return true;
        }

        private NettraceLayout? EndObject(string what)
        {
            long at = Position;
            if (!TryByte(out byte tag))
                return Cut($"at the end of {what}");
            return tag == EndObjectTag ? null : Damaged(at, $"byte 0x{tag:X2} where {what} should end (6)");
        }

        private NettraceLayout Cut(string where) =>
            new(Kind.Truncated, $"the file ends at byte {_length}, {where}; {_blocks} blocks before it are complete", _blocks);

        private NettraceLayout Damaged(long at, string what) =>
            new(Kind.Corrupt, $"at byte {at}: {what} ({_blocks} blocks before it are well formed)", _blocks);

        private bool TryByte(out byte value)
        {
            int read = stream.ReadByte();
            value = (byte)read;
            return read >= 0;
        }

        private bool TryInt32(out int value)
        {
            Span<byte> bytes = stackalloc byte[4];
            bool read = TryRead(bytes);
            value = read ? BinaryPrimitives.ReadInt32LittleEndian(bytes) : 0;
            return read;
        }

        private bool TryRead(Span<byte> into) => stream.ReadAtLeast(into, into.Length, throwOnEndOfStream: false) == into.Length;

        private bool TrySkip(long bytes)
        {
            if (_length - Position < bytes)
                return false;
            stream.Seek(bytes, SeekOrigin.Current);
            return true;
        }
    }
}
