using System;
using System.IO;
using System.Linq;
using System.Threading;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.TraceAnalysis;

namespace LargeFolios.Fuzz.Targets;

/// <summary>
/// The trace reader (<c>AllocatorTraceReader.Read</c>, EventPipe .nettrace through TraceEvent) and the
/// report on what it read: the input is a trace file. Checks: only <see cref="AllowedExceptions.Trace"/>,
/// whose message is one printable line (<c>message</c>, as <see cref="TraceFileException"/> documents);
/// the report of a trace read runs and prints no control character (<c>output</c>). For an input
/// that is a complete trace, two derived files whose answer is known: the trace cut short must be
/// called truncated (<c>truncation</c>), and its header followed by random bytes corrupt, not
/// truncated (<c>garbage</c>).
/// </summary>
public sealed class TraceTarget : IFuzzTarget, IDisposable
{
    // FastSerialization's NullReference tag, the last byte of every complete nettrace (as the reader knows).
    private const byte EndOfStreamTag = 1;

    // Tags are below 0x10: a byte from 0x10 up where a block must begin can begin nothing.
    private const byte FirstNonTag = 0x10;

    private const int GarbageBytes = 512;

    private readonly Scratch _scratch = new("trace");

    public string Name => "trace";

    public bool IsText => false;

    public int MaxInputBytes => 1 << 20;

    public string Run(byte[] input, CancellationToken abandoned)
    {
        ArgumentNullException.ThrowIfNull(input);
        string path = _scratch.File("input.nettrace");
        File.WriteAllBytes(path, input);
        (AllocatorTrace? trace, TraceFileException? failure) = Read(path);
        if (trace is null)
            return $"{failure!.Problem}:{TextChecks.Shape(failure.Message[(path.Length + 2)..])}";

        Report(trace);
        if (input.Length > 8 && input[^1] == EndOfStreamTag && trace.Warnings.Count == 0)
        {
            ulong hash = Hash(input);
            CheckCut(input, hash);
            CheckGarbage(input, hash);
        }

        return $"trace:{Bucket(trace.EventsByName.Total)}:{trace.Warnings.Count}:{trace.Arenas.Count}";
    }

    public void Dispose() => _scratch.Dispose();

    private static (AllocatorTrace? Trace, TraceFileException? Failure) Read(string path)
    {
        try
        {
            return (AllocatorTraceReader.Read(path, arenaFilter: null), null);
        }
        catch (Exception e) when (AllowedExceptions.IsAllowed(e, AllowedExceptions.Trace))
        {
            var failure = (TraceFileException)e;
            TextChecks.Printable("message", "TraceFileException's message", failure.Message, prefixChars: path.Length + 2);
            return (null, failure);
        }
    }

    private static void Report(AllocatorTrace trace)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        CliConsole console = CliConsole.ForCapture(output, error);
        TraceReport.Write(trace, console.Out);
        TextChecks.Printable("output", "the report", output.ToString(), multiline: true, maxChars: int.MaxValue);
    }

    /// <summary>A complete trace cut at a byte chosen by its hash (past the magic) is truncated.</summary>
    private void CheckCut(byte[] input, ulong hash)
    {
        int cut = 8 + (int)(hash % (ulong)(input.Length - 8));
        string path = _scratch.File("cut.nettrace");
        File.WriteAllBytes(path, input[..cut]);
        (AllocatorTrace? trace, TraceFileException? failure) = Read(path);
        if (trace is not null && !trace.Warnings.Any(w => w.Contains("truncated", StringComparison.Ordinal)))
            Checks.Fail("truncation", $"a complete trace of {input.Length} bytes cut to its first {cut} read as a whole trace, without a word of truncation");
        if (failure is not null && failure.Problem != TraceFileProblem.Truncated)
            Checks.Fail("truncation", $"a complete trace of {input.Length} bytes cut to its first {cut} is called {failure.Problem}, not Truncated: {failure.Message}", failure);
    }

    /// <summary>A complete trace's header (up to its first block) followed by random bytes is corrupt, not truncated.</summary>
    private void CheckGarbage(byte[] input, ulong hash)
    {
        int header = FirstBlock(input);
        if (header < 0)
            return;
        var random = new Random((int)hash ^ (int)(hash >> 32));
        byte[] garbage = new byte[header + GarbageBytes];
        input.AsSpan(0, header).CopyTo(garbage);
        random.NextBytes(garbage.AsSpan(header));
        garbage[header] = (byte)random.Next(FirstNonTag, 256);
        string path = _scratch.File("garbage.nettrace");
        File.WriteAllBytes(path, garbage);
        (AllocatorTrace? trace, TraceFileException? failure) = Read(path);
        if (trace is not null)
            Checks.Fail("garbage", $"the first {header} bytes of a trace (its header) and {GarbageBytes} random bytes read as a trace");
        if (failure is not null && failure.Problem != TraceFileProblem.Corrupt)
            Checks.Fail("garbage", $"the first {header} bytes of a trace (its header) and {GarbageBytes} random bytes are called {failure.Problem}, not Corrupt: {failure.Message}", failure);
    }

    /// <summary>
    /// Where the first block (MetadataBlock, StackBlock, EventBlock, SPBlock) begins: FastSerialization's
    /// BeginPrivateObject twice, NullReference, two versions, the type name's length and the name.
    /// -1 when there is none.
    /// </summary>
    public static int FirstBlock(byte[] trace)
    {
        ReadOnlySpan<byte> start = [5, 5, 1];
        for (int at = 8; at + 15 < trace.Length; at++)
        {
            if (!trace.AsSpan(at).StartsWith(start))
                continue;
            int length = BitConverter.ToInt32(trace, at + 11);
            if (length is < 5 or > 32 || at + 15 + length > trace.Length)
                continue;
            if (trace.AsSpan(at + 15, length).EndsWith("Block"u8))
                return at;
        }

        return -1;
    }

    private static ulong Hash(byte[] input)
    {
        ulong hash = 14695981039346656037;
        foreach (byte b in input)
            hash = (hash ^ b) * 1099511628211;
        return hash;
    }

    private static int Bucket(long count) => count == 0 ? 0 : 64 - (int)ulong.LeadingZeroCount((ulong)count);
}
