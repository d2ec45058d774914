using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.Folios.Fuzzing;

/// <summary>
/// Random scenarios (docs/scenario-format.md) that use every command: THP knobs (every size, the
/// global setting, the zero page, the shrinker, defrag and khugepaged's limits), mappings with
/// each protection, unmaps, protection changes, in-place and moving mremaps, every advice
/// (collapse and the fork advices included), loads and stores, forks, switches between processes,
/// exits and shrinks; each ends with every live process's <c>dump</c> and the <c>stats</c>.
/// </summary>
/// <remarks>
/// <para>Addresses fall in a 32 MiB window at 1 GiB (sixteen PMD ranges: most mappings in the lower
/// half, mremap targets anywhere), mostly page aligned and often at 2 MiB boundaries, so folio
/// orders, VMA edges and PMD boundaries meet.</para>
/// <para>A page-by-page picture of each process's mappings (which pages are mapped, readable,
/// writable, left out of forks) keeps most commands valid: stores go to writable pages, loads to
/// readable ones, advice and protection changes to mapped runs, moves to free room. A scenario
/// stops at its first failing command, so this is what lets most of them run to their end; now and
/// then a command is meant to fail (an unaligned, empty, overflowing or unmapped range, an access
/// the protection forbids), as the kernel's errors are part of what is compared. The same seed
/// gives the same scenario.</para>
/// </remarks>
internal sealed class ScenarioGenerator
{
    /// <summary>The start of the window every address falls in.</summary>
    public const ulong Window = 0x40000000;

    /// <summary>The window's size.</summary>
    public const ulong WindowSize = 32UL << 20;

    private const ulong Page = PageGeometry.PageSize;
    private const ulong Pmd = 2UL << 20;
    private const int Pages = (int)(WindowSize / Page);
    private const int MaxProcesses = 4;

    // A page's state in a process's picture.
    private const byte Mapped = 1;
    private const byte Readable = 2;
    private const byte Writable = 4;
    private const byte NoFork = 8;
    private const byte Touched = 16;   // loaded, stored or populated since mapped: its PMD range has a PTE table

    private static readonly string[] EnabledValues = ["always", "madvise", "never"];
    private static readonly string[] SizeValues = ["always", "inherit", "madvise", "never"];
    private static readonly string[] DefragValues = ["always", "defer", "defer+madvise", "madvise", "never"];

    private readonly Random _random;
    private readonly List<string> _lines = [];
    private readonly Dictionary<int, byte[]> _processes = new() { [0] = new byte[Pages] };
    private int _nextProcess = 1;
    private int _current;

    private ScenarioGenerator(int seed) => _random = new Random(seed);

    private byte[] Current => _processes[_current];

    /// <summary>A scenario of about <paramref name="commands"/> commands, the final dumps and stats besides.</summary>
    public static IReadOnlyList<string> Generate(int seed, int commands = 24)
    {
        var generator = new ScenarioGenerator(seed);
        generator.Build(commands);
        return generator._lines;
    }

    private void Build(int commands)
    {
        _lines.Add($"# folios fuzz, seed {_random.Next().ToString(CultureInfo.InvariantCulture)}");
        int knobs = _random.Next(1, 4);
        for (int i = 0; i < knobs; i++)
            Knob();
        Mmap(readWrite: true);
        Mmap();
        for (int i = 0; i < commands; i++)
            Command();
        foreach (int process in _processes.Keys.Order().ToArray())
        {
            _lines.Add($"process {process}");
            _lines.Add("dump");
        }

        _lines.Add("stats");
    }

    private void Command()
    {
        bool bad = _random.Next(40) == 0;
        switch (_random.Next(100))
        {
            case < 26: Access(write: true, bad); break;
            case < 34: Access(write: false, bad); break;
            case < 41: Mmap(); break;
            case < 45: Munmap(bad); break;
            case < 52: Mprotect(bad); break;
            case < 59: Mremap(bad); break;
            case < 75: Madvise(bad); break;
            case < 81: Fork(); break;
            case < 85: Switch(); break;
            case < 87: Exit(); break;
            case < 91: _lines.Add("shrink"); break;
            case < 95: Knob(); break;
            default: _lines.Add("dump"); break;
        }
    }

    private void Knob()
    {
        switch (_random.Next(10))
        {
            case 0:
                _lines.Add($"thp enabled {Pick(EnabledValues)}");
                break;
            case < 6:
                int order = _random.Next(2, PageGeometry.PmdOrder + 1);
                _lines.Add($"thp {(PageGeometry.PageSize >> 10) << order}kB {Pick(SizeValues)}");
                break;
            case 6:
                _lines.Add($"thp {Pick(["use_zero_page", "shrink_underused"])} {_random.Next(2)}");
                break;
            case 7:
                _lines.Add($"thp defrag {Pick(DefragValues)}");
                break;
            default:
                int limit = _random.Next(4) switch { 0 => 0, 1 => 511, 2 => _random.Next(1, 64), _ => _random.Next(64, 511) };
                _lines.Add($"thp khugepaged/{Pick(["max_ptes_none", "max_ptes_none", "max_ptes_shared", "max_ptes_swap"])} {limit}");
                break;
        }
    }

    private void Mmap(bool readWrite = false)
    {
        (int first, int count) = FreshRange(lowerHalf: true);
        (string word, byte state) = readWrite ? ("rw", (byte)(Mapped | Readable | Writable)) : _random.Next(10) switch
        {
            < 7 => ("rw", (byte)(Mapped | Readable | Writable)),
            < 9 => ("r", (byte)(Mapped | Readable)),
            _ => ("none", Mapped),
        };
        _lines.Add(_random.Next(4) == 0 && word == "rw"
            ? $"mmap {Hex(Address(first))} {Size(count)}"
            : $"mmap {Hex(Address(first))} {Size(count)} {word}");
        Array.Fill(Current, state, first, count);
    }

    private void Munmap(bool bad)
    {
        if (bad)
        {
            _lines.Add($"munmap {BadRange()}");
            return;
        }

        (int first, int count) = MappedRange() ?? FreshRange(lowerHalf: true);
        _lines.Add($"munmap {Hex(Address(first))} {Size(count)}");
        Array.Fill(Current, (byte)0, first, count);
    }

    private void Mprotect(bool bad)
    {
        (string word, byte access) = _random.Next(3) switch
        {
            0 => ("rw", (byte)(Readable | Writable)),
            1 => ("r", Readable),
            _ => ("none", (byte)0),
        };
        if (bad || MappedRange() is not { } range)
        {
            _lines.Add($"mprotect {BadRange()} {word}");
            return;
        }

        _lines.Add($"mprotect {Hex(Address(range.First))} {Size(range.Count)} {word}");
        for (int p = range.First; p < range.First + range.Count; p++)
            Current[p] = (byte)((Current[p] & (Mapped | NoFork)) | access);
    }

    private void Mremap(bool bad)
    {
        // Short ranges: a run of mapped pages may hold several VMAs (a move of more than one VMA's
        // part is EFAULT), and the shorter the range the likelier it is inside one.
        if (bad || MappedRange(maxPages: _random.Next(2) == 0 ? 32 : 600) is not { } range)
        {
            _lines.Add($"mremap {BadRange()} {Size(_random.Next(1, 64))}");
            return;
        }

        (int first, int count) = range;
        int newCount = _random.Next(3) switch
        {
            0 => count,
            1 => Math.Max(1, count / 2),
            _ => count + _random.Next(1, 256),
        };
        if (_random.Next(3) == 0)
        {
            // In place: a shrink always works; a grow only into free room right after.
            _lines.Add($"mremap {Hex(Address(first))} {Size(count)} {Size(newCount)}");
            byte state = Current[first];
            if (newCount < count)
            {
                Array.Fill(Current, (byte)0, first + newCount, count - newCount);
            }
            else if (newCount > count && first + newCount <= Pages && Current.AsSpan(first + count, newCount - count).IndexOfAnyExcept((byte)0) < 0)
            {
                Array.Fill(Current, state, first + count, newCount - count);
            }

            return;
        }

        // A move to the upper half, PMD aligned or not.
        int target = (Pages / 2) + (_random.Next(2) == 0
            ? _random.Next(0, 6) * (int)(Pmd / Page)
            : _random.Next(0, (Pages / 2) - 1024));
        newCount = Math.Min(newCount, Pages - target);
        if (target < first + count && first < target + newCount)
            return;   // the ranges would overlap: EINVAL, not worth a command
        _lines.Add($"mremap {Hex(Address(first))} {Size(count)} {Size(newCount)} {Hex(Address(target))}");
        byte[] pages = Current;
        byte moved = pages[first];
        Array.Fill(pages, (byte)0, target, newCount);
        Array.Copy(pages, first, pages, target, Math.Min(count, newCount));
        if (newCount > count)
            Array.Fill(pages, moved, target + count, newCount - count);
        Array.Fill(pages, (byte)0, first, count);
    }

    private void Madvise(bool bad)
    {
        string advice = _random.Next(22) switch
        {
            < 3 => "hugepage",
            < 5 => "nohugepage",
            < 8 => "dontneed",
            < 11 => "free",
            < 13 => "populate_read",
            < 15 => "populate_write",
            < 18 => "collapse",
            18 => "dontfork",
            19 => "dofork",
            20 => "wipeonfork",
            _ => "keeponfork",
        };
        byte needed = advice switch { "populate_read" => Readable, "populate_write" => Writable, _ => 0 };
        (int First, int Count)? range = advice == "collapse" ? CollapseRange() : MappedRange(needed);
        if (bad || range is not { } r)
        {
            _lines.Add($"madvise {BadRange()} {advice}");
            return;
        }

        _lines.Add($"madvise {Hex(Address(r.First))} {Size(r.Count)} {advice}");
        for (int p = r.First; p < r.First + r.Count; p++)
        {
            if (advice == "dontfork")
                Current[p] |= NoFork;
            else if (advice == "dofork")
                Current[p] = (byte)(Current[p] & ~NoFork);
            else if (advice is "populate_read" or "populate_write")
                Current[p] |= Touched;
            else if (advice == "dontneed")
                Current[p] = (byte)(Current[p] & ~Touched);
        }
    }

    private void Access(bool write, bool bad)
    {
        int page;
        if (bad)
        {
            page = _random.Next(Pages);
        }
        else if (!TryPickPage(write ? Writable : Readable, out page))
        {
            Mmap(readWrite: true);   // nothing to touch: map something that can be
            return;
        }

        ulong address = Address(page) + (ulong)_random.Next((int)Page);
        _lines.Add($"{(write ? "write" : "read")} {Hex(address)}");
        if (!bad)
            Current[page] |= Touched;
    }

    private void Fork()
    {
        if (_processes.Count >= MaxProcesses)
        {
            Access(write: true, bad: false);
            return;
        }

        _lines.Add("fork");
        byte[] child = Current.Select(p => (p & NoFork) != 0 ? (byte)0 : p).ToArray();
        _processes.Add(_nextProcess++, child);
    }

    private void Switch()
    {
        if (_processes.Count == 1)
        {
            Access(write: true, bad: false);
            return;
        }

        _current = Pick(_processes.Keys.ToArray());
        _lines.Add($"process {_current}");
    }

    private void Exit()
    {
        if (_processes.Count == 1)
        {
            Fork();
            return;
        }

        _lines.Add("exit");
        _processes.Remove(_current);
        _current = Pick(_processes.Keys.Order().ToArray());
        _lines.Add($"process {_current}");
    }

    /// <summary>A range to map: PMD-sized and aligned, or page-granular; in the lower half unless asked otherwise.</summary>
    private (int First, int Count) FreshRange(bool lowerHalf)
    {
        int span = lowerHalf ? Pages / 2 : Pages;
        if (_random.Next(5) < 2)
        {
            int pmds = _random.Next(1, 4);
            int block = _random.Next((span / (int)(Pmd / Page)) - pmds + 1);
            return (block * (int)(Pmd / Page), pmds * (int)(Pmd / Page));
        }

        int count = _random.Next(3) switch { 0 => _random.Next(1, 17), 1 => _random.Next(16, 513), _ => _random.Next(1, 1025) };
        return (_random.Next(span - count), count);
    }

    /// <summary>A part of one run of mapped pages all of which allow <paramref name="needed"/>: a piece, the whole run, or PMD aligned within it; null when nothing is mapped.</summary>
    private (int First, int Count)? MappedRange(byte needed = 0, int maxPages = Pages)
    {
        if (!TryPickPage((byte)(Mapped | needed), out int page))
            return null;
        byte[] pages = Current;
        int start = page;
        int end = page + 1;
        while (start > 0 && Allows(pages[start - 1], needed))
            start--;
        while (end < Pages && Allows(pages[end], needed))
            end++;
        if (_random.Next(4) == 0 && end - start <= maxPages)
            return (start, end - start);
        int first = _random.Next(start, end);
        return (first, _random.Next(1, Math.Min(end - first, maxPages) + 1));
    }

    /// <summary>
    /// For MADV_COLLAPSE: mostly a 2 MiB block wholly mapped and touched somewhere (a block without a
    /// PTE table is EINVAL, which ends the scenario), else a mapped run rounded to the blocks it
    /// holds whole, or any mapped range (which may hold none).
    /// </summary>
    private (int First, int Count)? CollapseRange()
    {
        int block = (int)(Pmd / Page);
        if (_random.Next(3) != 0)
        {
            byte[] pages = Current;
            for (int tries = 0; tries < 8; tries++)
            {
                int first = _random.Next(Pages / block) * block;
                ReadOnlySpan<byte> span = pages.AsSpan(first, block);
                bool mapped = true;
                bool touched = false;
                foreach (byte page in span)
                {
                    mapped &= (page & Mapped) != 0;
                    touched |= (page & Touched) != 0;
                }

                if (mapped && touched)
                    return (first, block);
            }
        }

        if (MappedRange() is not { } range)
            return null;
        int start = (range.First + block - 1) / block * block;
        int end = (range.First + range.Count) / block * block;
        return end > start && _random.Next(4) != 0 ? (start, end - start) : range;
    }

    private static bool Allows(byte page, byte needed) => (page & Mapped) != 0 && (page & needed) == needed;

    private bool TryPickPage(byte needed, out int page)
    {
        byte[] pages = Current;
        for (int tries = 0; tries < 64; tries++)
        {
            page = _random.Next(Pages);
            if ((pages[page] & needed) == needed && (pages[page] & Mapped) != 0)
                return true;
        }

        page = 0;
        return false;
    }

    /// <summary>A range meant to fail: unaligned, empty, beyond user space, or where nothing is mapped.</summary>
    private string BadRange() => _random.Next(4) switch
    {
        0 => $"{Hex(Window + (ulong)_random.Next(1, (int)Page))} 4K",
        1 => $"{Hex(Window)} 0",
        2 => "0x7ffffff00000 8M",
        _ => $"{Hex(Address(_random.Next(Pages - 16)))} {Size(_random.Next(1, 16))}",
    };

    private T Pick<T>(T[] values) => values[_random.Next(values.Length)];

    private static ulong Address(int page) => Window + ((ulong)page * Page);

    private static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>A length in pages as a scenario writes it: in K or M where it divides.</summary>
    private static string Size(int pages) => Size((ulong)pages * Page);

    private static string Size(ulong length) => length switch
    {
        0 => "0",
        _ when length % (1UL << 20) == 0 => $"{length >> 20}M",
        _ when length % 1024 == 0 => $"{length >> 10}K",
        _ => Hex(length),
    };
}
