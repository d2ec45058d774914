using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.Workloads;

/// <summary>
/// What a workload run did, read from the machine's own counters once its threads had finished
/// (before teardown): faults by kind, folios by order, fallbacks, splits, memory and the buddy
/// allocator's state. Reports render it; nothing in it refers to the machine any more.
/// </summary>
internal sealed class WorkloadResult
{
    private static readonly int s_mthpItems = Enum.GetValues<MthpStatItem>().Length;

    private readonly ImmutableArray<long> _events;
    private readonly ImmutableArray<long> _mthp;

    /// <summary>Takes the counters of <paramref name="machine"/> and <paramref name="space"/>; the caller fills in the rest.</summary>
    public WorkloadResult(WorkloadOptions options, Machine machine, AddressSpace space)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(space);
        Options = options;
        _events = [.. Enum.GetValues<VmEvent>().Select(machine.Events.Get)];
        var mthp = new long[(PageGeometry.PmdOrder + 1) * s_mthpItems];
        for (int order = 1; order <= PageGeometry.PmdOrder; order++)
        {
            foreach (MthpStatItem item in Enum.GetValues<MthpStatItem>())
                mthp[(order * s_mthpItems) + (int)item] = machine.MthpStats.Get(order, item);
        }

        _mthp = [.. mthp];
        RssPages = space.AnonPages;
        PageTablePages = space.PageTablePages;
        ArenaPages = machine.Arena.TotalPages;
        ZeroPages = 1 + (machine.HugeZeroFolio is null ? 0 : 1 << PageGeometry.PmdOrder);
    }

    /// <summary>What was run.</summary>
    public WorkloadOptions Options { get; }

    /// <summary>How it ended.</summary>
    public WorkloadOutcome Outcome => Failure?.Outcome ?? WorkloadOutcome.Completed;

    /// <summary>The first thread that stopped early, or null.</summary>
    public WorkloadFailure? Failure { get; init; }

    /// <summary>Iterations begun (all of them unless a thread failed).</summary>
    public int IterationsRun { get; init; }

    /// <summary>Wall time of the iterations: mapping, every thread's accesses and syscalls, the shrinker.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Pages of the region the iterations run went over (its pages times the iterations): what times are divided by to compare policies.</summary>
    public long RegionPagesCovered => (Options.SizeBytes >> PageGeometry.PageShift) * IterationsRun;

    /// <summary>Stores made.</summary>
    public long Stores { get; init; }

    /// <summary>Loads made.</summary>
    public long Loads { get; init; }

    /// <summary>madvise calls the pattern made (not counting the region's hugepage advice).</summary>
    public long Madvises { get; init; }

    /// <summary>munmap + mmap pairs the pattern made.</summary>
    public long Remaps { get; init; }

    /// <summary>Distinct pages stored to in the last iteration.</summary>
    public long PagesWritten { get; init; }

    /// <summary>Resident anonymous pages at the end (MM_ANONPAGES).</summary>
    public long RssPages { get; }

    /// <summary>Page-table pages at the end, the PGD and deposited PMD tables included.</summary>
    public long PageTablePages { get; }

    /// <summary>Pages in the arena.</summary>
    public long ArenaPages { get; }

    /// <summary>The zero page, and the huge zero page's 512 if a read needed it.</summary>
    public long ZeroPages { get; }

    /// <summary>Pages the fragmenter pinned.</summary>
    public long PinnedPages { get; init; }

    /// <summary>The buddy allocator's free blocks per order, after the per-CPU caches were drained.</summary>
    public required BuddyInfo Buddy { get; init; }

    /// <summary>Pages free in the buddy allocator.</summary>
    public long FreePages => Buddy.FreePages;

    /// <summary>
    /// Pages held by folios but mapped by nothing: the unmapped parts of partly mapped folios
    /// waiting for deferred split (whatever the other counts do not explain).
    /// </summary>
    public long UnmappedFolioPages => ArenaPages - FreePages - RssPages - PageTablePages - ZeroPages - PinnedPages;

    /// <summary>A <c>/proc/vmstat</c> (or model) event count.</summary>
    public long Event(VmEvent item) => _events[(int)item];

    /// <summary>A per-size mTHP counter; order 0 has none (0).</summary>
    public long Mthp(int order, MthpStatItem item) => order is < 1 or > PageGeometry.PmdOrder ? 0 : _mthp[(order * s_mthpItems) + (int)item];

    /// <summary>The sum of a per-size counter over every size.</summary>
    public long MthpTotal(MthpStatItem item) => Enumerable.Range(1, PageGeometry.PmdOrder).Sum(order => Mthp(order, item));

    /// <summary>
    /// Folios of <paramref name="order"/> that faults allocated: <c>anon_fault_alloc</c> for the
    /// mTHP sizes; for order 0, which has no counter, every PTE-mapped new folio and every
    /// copy of the zero page less the mTHP ones.
    /// </summary>
    public long FoliosAllocated(int order)
    {
        if (order != 0)
            return Mthp(order, MthpStatItem.AnonFaultAlloc);
        long mthp = Enumerable.Range(1, PageGeometry.PmdOrder - 1).Sum(o => Mthp(o, MthpStatItem.AnonFaultAlloc));
        return Event(VmEvent.AnonFolioFault) + Event(VmEvent.CowFault) - mthp;
    }

    /// <summary>Orders 0..9 with the folios allocated at each.</summary>
    public IEnumerable<(int Order, long Folios)> FoliosByOrder() =>
        Enumerable.Range(0, PageGeometry.PmdOrder + 1).Select(order => (order, FoliosAllocated(order)));

    /// <summary>Linux <c>unusable_free_index</c> at the PMD order, in thousandths: the share of free memory no 2 MiB allocation can use.</summary>
    public int UnusableIndexAtPmd => Buddy.UnusableFreeSpaceIndex(Math.Min(PageGeometry.PmdOrder, Buddy.MaxOrder));

    /// <summary>Linux <c>__fragmentation_index</c> at the PMD order, in thousandths (-1000: a 2 MiB allocation would succeed).</summary>
    public int FragmentationIndexAtPmd => Buddy.FragmentationIndex(Math.Min(PageGeometry.PmdOrder, Buddy.MaxOrder));
}
