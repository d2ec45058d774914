using System;
using System.Runtime.InteropServices;
using CsCheck;
using Xunit;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// The all-PTEs-none scan, every suite once per path this machine accelerates plus Auto. The
/// vector paths are called directly rather than through <see cref="PteScan.ForcedPath"/>, so these
/// tests run in parallel with everything else; Auto goes through the public entry points.
/// </summary>
public unsafe class PteScanTests
{
    private const int MaxCount = VirtualAddress.EntriesPerTable;

    // Starts 0..7 entries past a 64-byte boundary: every misalignment a 512-bit load can meet.
    private const int MaxOffset = 7;

    private static readonly ulong Mapped = Pte.Make(0x12345, PteFlags.Present | PteFlags.Write | PteFlags.User).Value;

    public static TheoryData<PteScanPath> Paths
    {
        get
        {
            var paths = new TheoryData<PteScanPath>();
            foreach (PteScanPath path in Enum.GetValues<PteScanPath>())
            {
                if (PteScan.IsSupported(path))
                    paths.Add(path);
            }

            return paths;
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Counts_the_leading_none_entries_for_every_length_first_position_and_offset(PteScanPath path)
    {
        using var buffer = new Entries();
        for (int offset = 0; offset <= MaxOffset; offset++)
        {
            ulong* range = buffer.At(offset);
            for (int count = 1; count <= MaxCount; count++)
            {
                Check(path, range, count, count, $"offset {offset}, all none");
                for (int first = 0; first < count; first++)
                {
                    // A second non-none entry at the end: the scan must report the first, not any.
                    range[first] = Mapped;
                    range[count - 1] |= Mapped + 0x1000;
                    Check(path, range, count, first, $"offset {offset}, first non-none at {first}");
                    range[first] = 0;
                    range[count - 1] = 0;
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Any_single_set_bit_makes_an_entry_not_none(PteScanPath path)
    {
        // Bit 0 (present), the PFN bits, the software and NX bits up to 63: the scan compares whole
        // entries with zero, not some flag.
        int[] counts = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 39, 40, 63, 64, 65, 255, 256, 300, 511, 512];
        using var buffer = new Entries();
        for (int offset = 0; offset <= MaxOffset; offset++)
        {
            ulong* range = buffer.At(offset);
            foreach (int count in counts)
            {
                foreach (int first in (ReadOnlySpan<int>)[0, count / 3, count / 2, count - 1])
                {
                    for (int bit = 0; bit < 64; bit++)
                    {
                        range[first] = 1UL << bit;
                        Check(path, range, count, first, $"offset {offset}, bit {bit} set at {first}");
                        range[first] = 0;
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Entries_just_outside_the_range_are_never_reported(PteScanPath path)
    {
        using var buffer = new Entries();
        for (int offset = 0; offset <= MaxOffset; offset++)
        {
            // Everything not none, then the range cleared one entry at a time: the entry right after
            // the range, and any before it, are always mapped.
            buffer.Fill(Mapped);
            ulong* range = buffer.At(offset);
            for (int count = 1; count <= MaxCount; count++)
            {
                range[count - 1] = 0;
                Check(path, range, count, count, $"offset {offset}, mapped entries either side");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Never_reads_outside_the_range(PteScanPath path)
    {
        // A read past either end of the page faults and kills the test host: the failure is loud.
        if (!OperatingSystem.IsLinux())
            return;

        using var pages = PteScanGuardPages.Map();
        ulong* page = pages.Readable;
        for (int count = 1; count <= MaxCount; count++)
        {
            Check(path, page + MaxCount - count, count, count, "range ending at a guard page");
            Check(path, page, count, count, "range starting after a guard page");
            page[MaxCount - 1] = Mapped;
            Check(path, page + MaxCount - count, count, count - 1, "range ending at a guard page, last entry mapped");
            page[MaxCount - 1] = 0;
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Matches_the_one_entry_at_a_time_definition_on_random_tables(PteScanPath path)
    {
        // Random entries after a random none prefix, several non-none in one vector, where the
        // exhaustive tests have at most two.
        var gen = Gen.Select(Gen.Int[0, MaxOffset], Gen.Int[1, MaxCount], Gen.Int[0, MaxCount], Gen.ULong.Array[MaxCount]);
        gen.Sample(
            (offset, count, nonePrefix, entries) =>
            {
                using var buffer = new Entries();
                ulong* range = buffer.At(offset);
                for (int i = 0; i < count; i++)
                    range[i] = i < nonePrefix ? 0 : entries[i];
                int expected = 0;
                while (expected < count && range[expected] == 0)
                    expected++;
                return Scan(path, range, count) == expected;
            },
            iter: 2000,
            print: t => $"offset {t.Item1}, count {t.Item2}, none prefix {t.Item3}");
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void An_empty_range_has_no_none_entries_and_reads_nothing(PteScanPath path) =>
        Assert.Equal(0, Scan(path, null, 0));

    [Fact]
    public void A_negative_count_is_refused()
    {
        var thrown = Assert.Throws<ArgumentOutOfRangeException>(() => PteScan.CountNone((Pte*)null, -1));
        Assert.Equal("count", thrown.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => PteScan.AllNone((Pte*)null, -1));
    }

    [Fact]
    public void AllNone_is_true_only_when_every_entry_is_none()
    {
        Pte[] table = new Pte[MaxCount];
        Assert.True(PteScan.AllNone(table));
        table[MaxCount - 1] = new Pte(Mapped);
        Assert.False(PteScan.AllNone(table));
        Assert.True(PteScan.AllNone(table.AsSpan(0, MaxCount - 1)));
        fixed (Pte* ptes = table)
        {
            Assert.False(PteScan.AllNone(ptes, MaxCount));
            Assert.True(PteScan.AllNone(ptes, MaxCount - 1));
        }
    }

    /// <summary>Scans on <paramref name="path"/>; Auto also checks that every public entry point agrees.</summary>
    internal static int Scan(PteScanPath path, ulong* first, int count)
    {
        switch (path)
        {
            case PteScanPath.Scalar:
                return PteScanScalar.CountNone(ref *first, count);
            case PteScanPath.Vector128:
                return PteScanVector128.CountNone(ref *first, count);
            case PteScanPath.Vector256:
                return PteScanVector256.CountNone(ref *first, count);
            case PteScanPath.Vector512:
                return PteScanVector512.CountNone(ref *first, count);
            default:
                int none = PteScan.CountNone((Pte*)first, count);
                var span = new ReadOnlySpan<Pte>(first, count);
                if (PteScan.CountNone(span) != none || PteScan.AllNone(span) != (none == count) || PteScan.AllNone((Pte*)first, count) != (none == count))
                    Assert.Fail($"The public entry points disagree on {count} entries: CountNone(Pte*) says {none}.");
                return none;
        }
    }

    /// <summary>Asserts without formatting a message on success: the exhaustive tests make millions of checks.</summary>
    internal static void Check(PteScanPath path, ulong* first, int count, int expected, string what)
    {
        int actual = Scan(path, first, count);
        if (actual != expected)
            Assert.Fail($"{path} on {count} entries ({what}): counted {actual} none, expected {expected}.");
    }

    /// <summary>A zeroed, 64-byte aligned buffer with room for a table at any offset 0..7 and one entry past it.</summary>
    private sealed class Entries : IDisposable
    {
        private const int Length = MaxCount + MaxOffset + 1;
        private readonly ulong* _entries = (ulong*)NativeMemory.AlignedAlloc(Length * sizeof(ulong), 64);

        public Entries() => Fill(0);

        public ulong* At(int offset) => _entries + offset;

        public void Fill(ulong value) => new Span<ulong>(_entries, Length).Fill(value);

        public void Dispose() => NativeMemory.AlignedFree(_entries);
    }
}
