using LargeFolios.BuddyAllocator;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Policies;
using LargeFolios.PageTables;

namespace LargeFolios.Folios.Workloads;

/// <summary>
/// Everything a workload run depends on: the pattern, the region it touches, the machine it runs
/// on, and the THP policy. Two runs with equal options and one thread make the same faults.
/// </summary>
internal sealed record WorkloadOptions
{
    /// <summary>
    /// Where the region is mapped: 1 GiB aligned (so PMD THPs fit and the tables start fresh), 16
    /// TiB below the 47-bit user limit, room for the largest arena the buddy allocator can have.
    /// </summary>
    public const ulong RegionBase = 0x7000_0000_0000;

    /// <summary>The largest region that fits between <see cref="RegionBase"/> and the top of user space.</summary>
    public const long MaxRegionBytes = (long)(VirtualAddress.TaskSize - RegionBase) & ~((1L << 21) - 1);

    /// <summary>The arena's block size: arenas are whole numbers of it.</summary>
    public const long ArenaGranule = (long)PageGeometry.PageSize << PageGeometry.DefaultMaxOrder;

    /// <summary>The largest arena: the buddy allocator's most pages, in whole 4 MiB blocks.</summary>
    public const long MaxArenaBytes = (PageGeometry.MaxPages << PageGeometry.PageShift) & -ArenaGranule;

    /// <summary>The most threads a run starts.</summary>
    public const int MaxThreads = 1024;

    /// <summary>The access pattern.</summary>
    public WorkloadKind Kind { get; init; } = WorkloadKind.Sequential;

    /// <summary>The mapping's length in bytes, split evenly between the threads.</summary>
    public long SizeBytes { get; init; } = 256L << 20;

    /// <summary>Threads touching the one address space at once, each in its own slice of the region.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The THP settings written into the machine's sysfs before the run.</summary>
    public PolicySettings Policy { get; init; } = PolicySettings.Default;

    /// <summary>The machine's memory in bytes; 0 sizes it from <see cref="SizeBytes"/> (<see cref="EffectiveArenaBytes"/>).</summary>
    public long ArenaBytes { get; init; }

    /// <summary>Descriptors only, no memory behind them: folios are "zeroed" by clearing a bit per page.</summary>
    public bool MetadataOnly { get; init; } = true;

    /// <summary>Seeds every random choice (thread t draws from Seed + t).</summary>
    public int Seed { get; init; } = 42;

    /// <summary>How often the pattern runs; each run maps the region afresh (MAP_FIXED drops what the last one left).</summary>
    public int Iterations { get; init; } = 1;

    /// <summary>The distance between stores of the strided pattern.</summary>
    public long StrideBytes { get; init; } = 64 << 10;

    /// <summary>The madvise given to the whole mapping before it is touched.</summary>
    public HugePageAdvice Advice { get; init; }

    /// <summary>
    /// The share of the arena's 4 MiB blocks, in percent, fragmented before the run by pinning one
    /// page in every 128 KiB: what slab and page-cache pages leave behind on a long-running machine.
    /// Their free pieces are at most 64 KiB, so THPs above that must come from the other blocks.
    /// </summary>
    public int FragmentPercent { get; init; }

    /// <summary>Check every invariant of the machine (<see cref="FaultPath.Machine.Validate"/>) after the run.</summary>
    public bool Validate { get; init; }

    /// <summary>
    /// <see cref="ArenaBytes"/>, or when 0 room for the whole region plus an eighth (page tables,
    /// the zero pages, pinned pages) and 8 MiB, in whole 4 MiB blocks.
    /// </summary>
    public long EffectiveArenaBytes => ArenaBytes != 0 ? ArenaBytes : RoundUp(SizeBytes + (SizeBytes / 8) + (8L << 20), ArenaGranule);

    /// <summary>What is wrong with these options, naming the value and what was expected; null when nothing is.</summary>
    public string? Check()
    {
        if (SizeBytes <= 0 || SizeBytes % PageGeometry.PageSize != 0 || SizeBytes > MaxRegionBytes)
            return $"size {ByteSize.Format(SizeBytes)} is not a region size; expected a whole number of 4K pages, at most {ByteSize.Format(MaxRegionBytes)}";
        if (Threads < 1 || Threads > MaxThreads)
            return $"{Threads} threads is not a thread count; expected 1 to {MaxThreads}";
        if (SizeBytes / PageGeometry.PageSize < Threads)
            return $"size {ByteSize.Format(SizeBytes)} cannot be shared by {Threads} threads; expected at least one 4K page per thread";
        if (ArenaBytes < 0 || ArenaBytes % ArenaGranule != 0 || ArenaBytes > MaxArenaBytes)
            return $"arena {ByteSize.Format(ArenaBytes)} is not an arena size; expected a whole number of 4M blocks, at most {ByteSize.Format(MaxArenaBytes)}";
        if (EffectiveArenaBytes > MaxArenaBytes)
            return $"size {ByteSize.Format(SizeBytes)} needs an arena of {ByteSize.FormatRounded(EffectiveArenaBytes)} (the size, an eighth more and 8M), more than the buddy allocator's largest, {ByteSize.Format(MaxArenaBytes)}; expected a smaller size, or --arena";
        if (Iterations < 1)
            return $"{Iterations} iterations is not an iteration count; expected 1 or more";
        if (StrideBytes <= 0 || StrideBytes % PageGeometry.PageSize != 0)
            return $"stride {ByteSize.Format(StrideBytes)} is not a stride; expected a whole number of 4K pages";
        if (FragmentPercent is < 0 or > 100)
            return $"{FragmentPercent}% is not a share of the arena to fragment; expected 0 to 100";
        return null;
    }

    private static long RoundUp(long value, long granule) => (value + granule - 1) / granule * granule;
}
