using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.Fuzzing;

/// <summary>
/// Random scenarios (docs/scenario-format.md) that use every command: THP knobs (every size, the
/// global setting, the zero page, the shrinker, defrag and khugepaged's limits), mappings with
/// each protection, unmaps, protection changes, in-place and moving mremaps, every advice
/// (collapse and the fork advices included), loads and stores, forks, switches between processes,
/// exits and shrinks; each ends with every live process's <c>dump</c> and the <c>stats</c>.
/// </summary>
/// <remarks>
/// Addresses fall in a 32 MiB window at 1 GiB (sixteen PMD ranges: mapped VMAs in the lower half,
/// mremap targets anywhere), mostly page aligned and often at 2 MiB boundaries, so folio orders,
/// VMA edges and PMD boundaries meet; now and then an argument is bad (unaligned, zero, overflowing,
/// beyond user space), as the kernel's errors are part of what is compared. Loads and stores
/// mostly land where something is mapped, so most scenarios run to their end. The same seed gives
/// the same scenario.
/// </remarks>
internal sealed class ScenarioGenerator
{
    /// <summary>The start of the window every address falls in.</summary>
    public const ulong Window = 0x40000000;

    /// <summary>The window's size.</summary>
    public const ulong WindowSize = 32UL << 20;

    private const ulong Page = PageGeometry.PageSize;
    private const ulong Pmd = 2UL << 20;
    private const int MaxProcesses = 4;

    private static readonly string[] EnabledValues = ["always", "madvise", "never"];
    private static readonly string[] SizeValues = ["always", "inherit", "madvise", "never"];
    private static readonly string[] DefragValues = ["always", "defer", "defer+madvise", "madvise", "never"];
    private static readonly string[] Protections = ["rw", "r", "none"];

    private readonly Random _random;
    private readonly List<string> _lines = [];
    private readonly List<(ulong Start, ulong End)> _mapped = [];   // a rough guess at what process 'current' maps
    private readonly List<int> _alive = [0];
    private int _nextProcess = 1;
    private int _current;

    private ScenarioGenerator(int seed) => _random = new Random(seed);

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
        for (int i = 0; i < 2; i++)
            Mmap();
        for (int i = 0; i < commands; i++)
            Command();
        foreach (int process in _alive.OrderBy(p => p).ToArray())
        {
            _lines.Add($"process {process}");
            _lines.Add("dump");
        }

        _lines.Add("stats");
    }

    private void Command()
    {
        int pick = _random.Next(100);
        switch (pick)
        {
            case < 24: Access(write: true); break;
            case < 34: Access(write: false); break;
            case < 42: Mmap(); break;
            case < 47: Munmap(); break;
            case < 55: Mprotect(); break;
            case < 62: Mremap(); break;
            case < 78: Madvise(); break;
            case < 83: Fork(); break;
            case < 87: Switch(); break;
            case < 89: Exit(); break;
            case < 93: _lines.Add("shrink"); break;
            case < 96: Knob(); break;
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
                int order = _random.Next(ThpPolicy.MinAnonOrder, PageGeometry.PmdOrder + 1);
                _lines.Add($"thp {ThpPolicy.SizeName(order)} {Pick(SizeValues)}");
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

    private void Mmap()
    {
        (ulong start, ulong length) = Range(WindowSize / 2);
        string protection = _random.Next(10) switch { < 7 => "rw", < 9 => "r", _ => "none" };
        _lines.Add(_random.Next(4) == 0 && protection == "rw"
            ? $"mmap {Hex(start)} {Size(length)}"
            : $"mmap {Hex(start)} {Size(length)} {protection}");
        Remember(start, length);
    }

    private void Munmap()
    {
        (ulong start, ulong length) = RangeNearMapped();
        _lines.Add($"munmap {Hex(start)} {Size(length)}");
    }

    private void Mprotect()
    {
        (ulong start, ulong length) = RangeNearMapped();
        _lines.Add($"mprotect {Hex(start)} {Size(length)} {Pick(Protections)}");
    }

    private void Mremap()
    {
        (ulong start, ulong length) = RangeNearMapped();
        ulong newLength = _random.Next(3) switch
        {
            0 => length,
            1 => Math.Max(Page, length / 2 & ~(Page - 1)),
            _ => length + ((ulong)_random.Next(1, 512) * Page),
        };
        if (_random.Next(3) == 0)
        {
            _lines.Add($"mremap {Hex(start)} {Size(length)} {Size(newLength)}");
            return;
        }

        // A target in the upper half, PMD aligned or not, so moves go both ways.
        ulong target = Window + (WindowSize / 2) + (_random.Next(2) == 0
            ? (ulong)_random.Next(0, 6) * Pmd
            : (ulong)_random.Next(0, (int)(WindowSize / 2 / Page) - 1024) * Page);
        _lines.Add($"mremap {Hex(start)} {Size(length)} {Size(newLength)} {Hex(target)}");
        Remember(target, newLength);
    }

    private void Madvise()
    {
        (ulong start, ulong length) = RangeNearMapped();
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
        _lines.Add($"madvise {Hex(start)} {Size(length)} {advice}");
    }

    private void Access(bool write)
    {
        ulong address = _mapped.Count > 0 && _random.Next(10) != 0
            ? Inside(_mapped[_random.Next(_mapped.Count)])
            : Window + ((ulong)_random.Next((int)(WindowSize / Page)) * Page);
        address += (ulong)_random.Next((int)Page);
        _lines.Add($"{(write ? "write" : "read")} {Hex(address)}");
    }

    private void Fork()
    {
        if (_alive.Count >= MaxProcesses)
        {
            Access(write: true);
            return;
        }

        _lines.Add("fork");
        _alive.Add(_nextProcess++);
    }

    private void Switch()
    {
        if (_alive.Count == 1)
        {
            Access(write: true);
            return;
        }

        _current = _alive[_random.Next(_alive.Count)];
        _lines.Add($"process {_current}");
    }

    private void Exit()
    {
        if (_alive.Count == 1)
        {
            Fork();
            return;
        }

        _lines.Add("exit");
        _alive.Remove(_current);
        _current = _alive[_random.Next(_alive.Count)];
        _lines.Add($"process {_current}");
    }

    /// <summary>A range in the lower part of the window: PMD-sized and aligned, page-granular, or now and then a bad one.</summary>
    private (ulong Start, ulong Length) Range(ulong span)
    {
        int kind = _random.Next(40);
        if (kind == 0)
            return (Window + (ulong)_random.Next(1, (int)Page), Page);   // unaligned: EINVAL
        if (kind == 1)
            return (Window, 0);                                          // zero length
        if (kind == 2)
            return (0x7ffffff00000, 4 * Pmd);                            // beyond user space
        if (kind < 16)
        {
            ulong pmds = (ulong)_random.Next(1, 4);
            ulong first = (ulong)_random.Next((int)(span / Pmd - pmds + 1));
            return (Window + (first * Pmd), pmds * Pmd);
        }

        ulong pages = _random.Next(3) switch { 0 => (ulong)_random.Next(1, 17), 1 => (ulong)_random.Next(16, 513), _ => (ulong)_random.Next(1, 1025) };
        ulong startPage = (ulong)_random.Next((int)(span / Page - pages));
        return (Window + (startPage * Page), pages * Page);
    }

    /// <summary>A range over or around something mapped: a part of it, the whole, or past its ends.</summary>
    private (ulong Start, ulong Length) RangeNearMapped()
    {
        if (_mapped.Count == 0 || _random.Next(6) == 0)
            return Range(WindowSize / 2);
        (ulong start, ulong end) = _mapped[_random.Next(_mapped.Count)];
        ulong pages = (end - start) / Page;
        ulong first = (ulong)_random.NextInt64((long)Math.Max(1, pages));
        ulong count = (ulong)_random.NextInt64(1, (long)Math.Max(2, pages - first + 2));
        if (_random.Next(4) == 0)
            return (start, end - start);
        return (start + (first * Page), count * Page);
    }

    /// <summary>Notes a range that may now be mapped, when it is a good one (the bad ranges map nothing).</summary>
    private void Remember(ulong start, ulong length)
    {
        if (length != 0 && start % Page == 0 && start >= Window && start + length <= Window + WindowSize)
            _mapped.Add((start, start + ((length + Page - 1) & ~(Page - 1))));
    }

    private ulong Inside((ulong Start, ulong End) range) =>
        range.Start + ((ulong)_random.NextInt64((long)Math.Max(1, (range.End - range.Start) / Page)) * Page);

    private string Pick(string[] values) => values[_random.Next(values.Length)];

    private static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>A length as a scenario writes it: in K or M where it divides, else hex.</summary>
    private static string Size(ulong length) => length switch
    {
        0 => "0",
        _ when length % (1UL << 20) == 0 => $"{length >> 20}M",
        _ when length % 1024 == 0 => $"{length >> 10}K",
        _ => Hex(length),
    };
}
