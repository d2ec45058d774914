using System;
using System.IO;
using Microsoft.Diagnostics.Tracing;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// Opens a <c>.nettrace</c> with TraceEvent and feeds its events to an <see cref="AllocatorTraceBuilder"/>,
/// turning every way the file can be wrong into a <see cref="TraceFileException"/> that says which.
/// </summary>
/// <remarks>
/// The reader looks at the file itself before TraceEvent does: the magic at the front tells a
/// trace from anything else, and a walk over its blocks (<see cref="NettraceLayout"/>) a complete
/// trace from one cut short or damaged, with the byte where it happened. TraceEvent 4.0 would
/// report all three as <see cref="FormatException"/> ("Read past end of stream" for a cut and for
/// a damaged length alike), and damaged lengths also as <see cref="ArgumentOutOfRangeException"/>,
/// <see cref="OverflowException"/> or a huge allocation's <see cref="OutOfMemoryException"/>;
/// what it still throws on a file whose blocks are well formed is damage inside a block.
/// </remarks>
internal static class AllocatorTraceReader
{
    private static ReadOnlySpan<byte> Magic => "Nettrace"u8;

    /// <summary>Reads <paramref name="path"/> into a trace.</summary>
    /// <exception cref="TraceFileException">The file is missing, empty, not a nettrace, truncated or corrupt.</exception>
    public static AllocatorTrace Read(string path, int? arenaFilter)
    {
        ArgumentNullException.ThrowIfNull(path);
        NettraceLayout layout = Inspect(path);
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
            return builder.Build(source.EventsLost);
        }
        catch (InvalidDataException e)
        {
            throw new TraceFileException(path, TraceFileProblem.Corrupt, $"corrupt trace: {e.Message}", e);
        }
        catch (Exception e) when (IsParserFailure(e))
        {
            string where = layout.Result == NettraceLayout.Kind.Complete ? $"its {layout.Blocks} blocks are well formed, but " : "";
            throw new TraceFileException(path, TraceFileProblem.Corrupt, $"corrupt trace: {where}TraceEvent stopped after {events} events: {e.Message}", e);
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
            or IndexOutOfRangeException or InvalidCastException or OutOfMemoryException or NullReferenceException;

    /// <summary>Checks the file's magic and block structure; throws unless it is complete (or of a layout only TraceEvent knows).</summary>
    private static NettraceLayout Inspect(string path)
    {
        if (path.Length == 0)
            throw new TraceFileException("\"\"", TraceFileProblem.Unreadable, "the file name is empty; expected a .nettrace file");
        if (Directory.Exists(path))
            throw new TraceFileException(path, TraceFileProblem.Unreadable, "a directory, not a trace file");
        try
        {
            using FileStream stream = File.OpenRead(path);
            Span<byte> head = stackalloc byte[Magic.Length];
            int read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            if (read == 0)
                throw new TraceFileException(path, TraceFileProblem.Empty, "the file is empty (0 bytes): was the trace session ever started?");
            if (!head[..read].SequenceEqual(Magic))
                throw new TraceFileException(path, TraceFileProblem.NotANettrace, "not a nettrace file (it does not begin with \"Nettrace\"); expected a trace from folios trace, dotnet-trace or an EventPipe session");

            stream.Position = 0;
            NettraceLayout layout = NettraceLayout.Check(stream);
            return layout.Result switch
            {
                NettraceLayout.Kind.Truncated => throw new TraceFileException(path, TraceFileProblem.Truncated,
                    $"truncated trace: {layout.Detail}; was the session stopped before the file was complete?"),
                NettraceLayout.Kind.Corrupt => throw new TraceFileException(path, TraceFileProblem.Corrupt, $"corrupt trace: {layout.Detail}"),
                _ => layout,
            };
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TraceFileException(path, TraceFileProblem.Unreadable, "no such file", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new TraceFileException(path, TraceFileProblem.Unreadable, "permission denied", e);
        }
        catch (IOException e) when (e is not TraceFileException)
        {
            throw new TraceFileException(path, TraceFileProblem.Unreadable, $"cannot read it: {e.Message}", e);
        }
    }
}
