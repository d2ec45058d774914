using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Commands;
using LargeFolios.Folios.TraceAnalysis;
using LargeFolios.PageTables;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// The real trace with one enumeration field rewritten to a value its enumeration does not define:
/// nettrace has no checksums, so only the reader can tell, and it calls the trace corrupt as it does
/// an order no arena has. An event's payload is stored as the provider wrote it, so each test finds
/// its event by the field values around the one it rewrites, values only that event has.
/// </summary>
[Collection(ReportEventPipeCollection.Name)]
public sealed class ReportCorruptValueTests(ReportTraceFixture fixture)
{
    private const ulong KiB = 1024, MiB = 1024 * KiB;

    [Fact]
    public void An_undefined_fault_kind_is_a_corrupt_trace()
    {
        // The one PMD fault's FaultStop: address, kind PmdFolio, order 9.
        string path = Rewrite("fault-kind", [U64(ReportTraceFixture.PmdRegion), I32((int)FaultKind.PmdFolio), I32(9)], field: 1, I32(99));

        AssertCorrupt(path, "event LargeFolios-FaultPath/FaultStop (id 31) has kind 99, not a FaultKind (expected one of 0, 1, 2, 3, 4, 5, 6, 7)");
    }

    [Fact]
    public void An_undefined_fault_access_is_a_corrupt_trace()
    {
        // The one read fault's FaultStart: address, access Read (its FaultStop has kind ZeroPage there).
        string path = Rewrite("fault-access", [U64(ReportTraceFixture.MthpRegion + MiB), I32((int)FaultAccess.Read)], field: 1, I32(2));

        AssertCorrupt(path, "event LargeFolios-FaultPath/FaultStart (id 30) has access 2, not a FaultAccess (expected one of 0, 1)");
    }

    [Fact]
    public void An_undefined_madvise_advice_is_a_corrupt_trace()
    {
        // The one madvise: start, length, advice DontNeed, 8 pages zapped.
        string path = Rewrite("advice", [U64(ReportTraceFixture.MthpRegion), U64(32 * KiB), I32((int)MadviseAdvice.DontNeed), U64(8)], field: 2, I32(11));

        AssertCorrupt(path, "event LargeFolios-FaultPath/Madvise (id 42) has advice 11, not a MadviseAdvice (expected one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)");
    }

    [Fact]
    public void A_protection_with_an_undefined_bit_is_a_corrupt_trace()
    {
        // The mmap of the small region: start, length, protection read and write; bit 8 is no VMA flag.
        string path = Rewrite("protection", [U64(ReportTraceFixture.SmallRegion), U64(64 * KiB), U64((ulong)(VmaFlags.Read | VmaFlags.Write))], field: 2, U64(0x103));

        AssertCorrupt(path, "event LargeFolios-FaultPath/Mmap (id 40) has protection 259, not a VmaFlags (expected a combination of the bits 0x400000006212000F)");
    }

    [Fact]
    public void The_command_says_so_in_one_line_and_exits_2()
    {
        string path = Rewrite("command", [U64(ReportTraceFixture.PmdRegion), I32((int)FaultKind.PmdFolio), I32(9)], field: 1, I32(-1));
        using var output = new StringWriter();
        using var error = new StringWriter { NewLine = "\n" };

        int exit = ReportCommand.Create(ReportTestConsole.Into(output), error).Parse([path]).Invoke();

        Assert.Equal(2, exit);
        Assert.Equal("", output.ToString());
        Assert.Equal($"folios report: {path}: corrupt trace: event LargeFolios-FaultPath/FaultStop (id 31) has kind -1, not a FaultKind (expected one of 0, 1, 2, 3, 4, 5, 6, 7)\n", error.ToString());
    }

    private static void AssertCorrupt(string path, string problem)
    {
        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(path));
        Assert.Equal(TraceFileProblem.Corrupt, error.Problem);
        Assert.Equal($"{path}: corrupt trace: {problem}", error.Message);
    }

    /// <summary>Writes a copy of the trace with field <paramref name="field"/> of the one payload run <paramref name="fields"/> replaced by <paramref name="value"/>.</summary>
    private string Rewrite(string name, byte[][] fields, int field, byte[] value)
    {
        Assert.Equal(fields[field].Length, value.Length);
        byte[] trace = File.ReadAllBytes(fixture.TracePath);
        byte[] pattern = [.. fields.SelectMany(bytes => bytes)];
        int at = Assert.Single(Occurrences(trace, pattern));
        value.CopyTo(trace, at + fields.Take(field).Sum(bytes => bytes.Length));

        string path = Path.Combine(fixture.Directory, $"undefined-{name}.nettrace");
        File.WriteAllBytes(path, trace);
        return path;
    }

    private static List<int> Occurrences(byte[] haystack, byte[] needle)
    {
        var found = new List<int>();
        for (int from = 0; ; from++)
        {
            int at = haystack.AsSpan(from).IndexOf(needle);
            if (at < 0)
                return found;
            from += at;
            found.Add(from);
        }
    }

    private static byte[] I32(int value)
    {
        byte[] bytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] U64(ulong value)
    {
        byte[] bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return bytes;
    }
}
