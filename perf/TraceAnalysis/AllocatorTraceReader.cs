using System;
using System.IO;
using Microsoft.Diagnostics.Tracing;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// Opens a <c>.nettrace</c> with TraceEvent and feeds its events to an <see cref="AllocatorTraceBuilder"/>,
/// turning every way the file can be wrong into a <see cref="TraceFileException"/> that says which.
/// </summary>
/// <remarks>
/// TraceEvent 4.0 reports almost everything as <see cref="FormatException"/>: "Invalid
/// FastSerialization header" for a file that is not a trace, "Read past end of stream" for one cut
/// short at any point (the header, a block, or only the final byte), "Failed to read ..." for
/// damaged blocks; damaged lengths also give <see cref="ArgumentOutOfRangeException"/>, <see cref="OverflowException"/> or a huge
/// allocation's <see cref="OutOfMemoryException"/>. A cut trace has already delivered the events
/// before the cut when the exception comes, so nothing read is kept. The reader looks at the file
/// itself too: the magic at the front tells a trace from anything else, and the end marker at the
/// back a complete trace from a truncated one.
/// </remarks>
internal static class AllocatorTraceReader
{
    // FastSerialization's NullReference tag: the last byte of every complete nettrace.
    private const byte EndOfStreamTag = 1;

    private static ReadOnlySpan<byte> Magic => "Nettrace"u8;

    /// <summary>Reads <paramref name="path"/> into a trace.</summary>
    /// <exception cref="TraceFileException">The file is missing, empty, not a nettrace, truncated or corrupt.</exception>
    public static AllocatorTrace Read(string path, int? arenaFilter)
    {
        bool complete = Inspect(path);
        var builder = new AllocatorTraceBuilder(path, arenaFilter);
        long events = 0;
        try
        {
            using var source = new EventPipeEventSource(path);
            source.Dynamic.All += data =>
            {
                events++;
                builder.Add(data);
            };
            source.Process();

            // Every cut tried so far makes TraceEvent throw; a format whose last byte is not the
            // marker would not, and deserves its report, with a word of doubt.
            return builder.Build(source.EventsLost, complete ? null : $"the file does not end with the end-of-stream marker (byte {EndOfStreamTag}): it may be truncated");
        }
        catch (InvalidDataException e)
        {
            throw new TraceFileException(path, TraceFileProblem.Corrupt, $"corrupt trace: {e.Message}", e);
        }
        catch (Exception e) when (IsParserFailure(e))
        {
            // The end marker missing, or TraceEvent running out of bytes before it: a cut, not damage.
            if (!complete || e is EndOfStreamException || e.Message.Contains("past end of stream", StringComparison.Ordinal))
                throw Truncated(path, events, e.Message, e);
            throw new TraceFileException(path, TraceFileProblem.Corrupt, $"corrupt trace: TraceEvent stopped after {events} events: {e.Message}", e);
        }
    }

    /// <summary>
    /// What TraceEvent throws on bytes that are not the trace it expects: besides its own format
    /// errors, a damaged length or count surfaces as whatever the arithmetic or the indexing it
    /// feeds throws (an overflow, an index or argument out of range, a huge allocation). The
    /// builder's own complaints about payloads are <see cref="InvalidDataException"/>, caught apart.
    /// </summary>
    private static bool IsParserFailure(Exception e) =>
        e is FormatException or EndOfStreamException or ArgumentException or ArithmeticException
            or IndexOutOfRangeException or InvalidCastException or OutOfMemoryException;

    /// <summary>Checks the file's size and magic; returns whether it ends with the stream's end marker.</summary>
    private static bool Inspect(string path)
    {
        try
        {
            using FileStream stream = File.OpenRead(path);
            if (stream.Length == 0)
                throw new TraceFileException(path, TraceFileProblem.Empty, "the file is empty (0 bytes): was the trace session ever started?");

            Span<byte> head = stackalloc byte[Magic.Length];
            int read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            if (!head[..read].SequenceEqual(Magic))
                throw new TraceFileException(path, TraceFileProblem.NotANettrace, "not a nettrace file (it does not begin with \"Nettrace\"); expected a trace from dotnet-trace or an EventPipe session");

            stream.Seek(-1, SeekOrigin.End);
            return stream.ReadByte() == EndOfStreamTag;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TraceFileException(path, TraceFileProblem.Unreadable, "no such file", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new TraceFileException(path, TraceFileProblem.Unreadable, Directory.Exists(path) ? "a directory, not a trace file" : "permission denied", e);
        }
        catch (IOException e) when (e is not TraceFileException)
        {
            throw new TraceFileException(path, TraceFileProblem.Unreadable, $"cannot read it: {e.Message}", e);
        }
    }

    private static TraceFileException Truncated(string path, long events, string detail, Exception? inner = null) =>
        new(path, TraceFileProblem.Truncated,
            $"truncated trace: it ends before the end-of-stream marker, after {events} events ({detail}); was the session stopped before the file was complete?",
            inner);
}
