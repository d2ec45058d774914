using System;
using System.Buffers.Binary;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// The one thing TraceEvent trusts in a metadata block that can cost more than the file: the
/// field count of each event's metadata, for which it allocates before it reads a field. A count
/// larger than the bytes left could ever describe (each field takes at least a 4-byte type code
/// and a 2-byte name terminator) is damage, said here before TraceEvent asks for gigabytes.
/// </summary>
/// <remarks>
/// The walk follows the V4/V5 block layout: a header (its size first, then flags; flag 1 means
/// compressed event headers), then events, each a header and a payload that is the metadata:
/// metadata id, provider name and event name (UTF-16, NUL-terminated), event id, keywords,
/// version, level, then the field count. Anything that does not line up (a payload running past
/// the block, a name without its terminator) ends the check without a verdict: TraceEvent then
/// decides, as it did before, and only a count this check can see is held against the file.
/// </remarks>
internal static class NettraceMetadata
{
    private const int MinFieldBytes = 6;

    /// <summary>What is wrong with <paramref name="block"/>'s field counts, or null.</summary>
    public static string? FindImpossibleFieldCount(ReadOnlySpan<byte> block)
    {
        if (block.Length < 4)
            return null;
        int headerSize = BinaryPrimitives.ReadUInt16LittleEndian(block);
        bool compressed = (BinaryPrimitives.ReadUInt16LittleEndian(block[2..]) & 1) != 0;
        if (headerSize < 4 || headerSize > block.Length)
            return null;

        int at = headerSize;
        int payloadSize = 0;
        while (at < block.Length)
        {
            int payloadStart;
            if (compressed)
            {
                byte flags = block[at++];
                if ((flags & 1) != 0 && !SkipVarInt(block, ref at))
                    return null;
                if ((flags & 2) != 0 && !(SkipVarInt(block, ref at) && SkipVarInt(block, ref at) && SkipVarInt(block, ref at)))
                    return null;
                if ((flags & 4) != 0 && !SkipVarInt(block, ref at))
                    return null;
                if ((flags & 8) != 0 && !SkipVarInt(block, ref at))
                    return null;
                if (!SkipVarInt(block, ref at))   // the timestamp delta, always there
                    return null;
                if ((flags & 16) != 0)
                    at += 16;
                if ((flags & 32) != 0)
                    at += 16;
                if ((flags & 128) != 0 && !ReadVarInt(block, ref at, out payloadSize))
                    return null;
                payloadStart = at;
            }
            else
            {
                // Size, metadata id, sequence, thread, capture thread, processor, stack, timestamp,
                // two activity ids, then the payload's size.
                const int fixedHeader = 4 + 4 + 4 + 8 + 8 + 4 + 4 + 8 + 16 + 16;
                if (at + fixedHeader + 4 > block.Length)
                    return null;
                payloadSize = BinaryPrimitives.ReadInt32LittleEndian(block[(at + fixedHeader)..]);
                payloadStart = at + fixedHeader + 4;
            }

            if (payloadSize < 0 || payloadStart > block.Length || payloadSize > block.Length - payloadStart)
                return null;
            if (FieldCountProblem(block.Slice(payloadStart, payloadSize), payloadStart) is { } problem)
                return problem;
            at = payloadStart + payloadSize;
            if (!compressed)
                at = (at + 3) & ~3;
        }

        return null;
    }

    private static string? FieldCountProblem(ReadOnlySpan<byte> metadata, int offset)
    {
        int at = 4;   // the metadata id
        if (!SkipUtf16Z(metadata, ref at))
            return null;
        at += 4;      // event id
        if (!SkipUtf16Z(metadata, ref at))
            return null;
        at += 8 + 4 + 4;   // keywords, version, level
        if (at + 4 > metadata.Length)
            return null;   // no fields (V3 and older, or an event without payload)
        int count = BinaryPrimitives.ReadInt32LittleEndian(metadata[at..]);
        long room = (metadata.Length - at - 4) / MinFieldBytes;
        return count < 0 || count > room
            ? $"an event's metadata at block byte {offset} declares {count} fields in {metadata.Length - at - 4} bytes (at most {room} fit)"
            : null;
    }

    private static bool SkipUtf16Z(ReadOnlySpan<byte> data, ref int at)
    {
        for (; at + 1 < data.Length; at += 2)
        {
            if (data[at] == 0 && data[at + 1] == 0)
            {
                at += 2;
                return true;
            }
        }

        return false;
    }

    private static bool SkipVarInt(ReadOnlySpan<byte> data, ref int at) => ReadVarInt(data, ref at, out _);

    private static bool ReadVarInt(ReadOnlySpan<byte> data, ref int at, out int value)
    {
        ulong result = 0;
        for (int shift = 0; shift < 64 && at < data.Length; shift += 7)
        {
            byte b = data[at++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                value = result > int.MaxValue ? -1 : (int)result;
                return true;
            }
        }

        value = 0;
        return false;
    }
}
