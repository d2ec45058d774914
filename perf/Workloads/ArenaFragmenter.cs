using System;
using System.Collections.Generic;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.Folios.Workloads;

/// <summary>
/// Leaves an arena as a long-running machine's memory looks: a share of its max-order blocks each
/// hold one pinned page in every <see cref="PinInterval"/> pages (slab, page cache, kernel stacks
/// that never move), so the free memory around them comes in pieces of at most 64 KiB. Disposing
/// frees the pinned pages.
/// </summary>
internal sealed class ArenaFragmenter : IDisposable
{
    /// <summary>Pages from one pinned page to the next: 32 (128 KiB), leaving free blocks of orders 0 to 4 between them.</summary>
    public const int PinInterval = 32;

    private readonly Arena _arena;
    private readonly List<Folio> _pinned;

    private ArenaFragmenter(Arena arena, List<Folio> pinned)
    {
        _arena = arena;
        _pinned = pinned;
    }

    /// <summary>Pages pinned.</summary>
    public long PinnedPages => _pinned.Count;

    /// <summary>Fragments <paramref name="percent"/>% of <paramref name="arena"/>'s max-order blocks (as many as are free).</summary>
    public static ArenaFragmenter Fragment(Arena arena, int percent)
    {
        ArgumentNullException.ThrowIfNull(arena);
        ArgumentOutOfRangeException.ThrowIfNegative(percent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percent, 100);
        long blocks = (arena.TotalPages >> arena.MaxOrder) * percent / 100;
        var pinned = new List<Folio>();
        for (long block = 0; block < blocks && arena.TryAllocate(arena.MaxOrder, out Folio whole); block++)
        {
            foreach (Folio page in arena.SplitUniform(whole, 0))
            {
                if ((page.Pfn - whole.Pfn) % PinInterval == 0)
                    pinned.Add(page);
                else
                    arena.Free(page);
            }
        }

        // The frees sit in per-CPU caches until drained; merged, the pieces are what the buddy
        // allocator will hand out.
        arena.DrainPerCpuCaches();
        return new ArenaFragmenter(arena, pinned);
    }

    /// <summary>Frees the pinned pages.</summary>
    public void Dispose()
    {
        foreach (Folio page in _pinned)
            _arena.Free(page);
        _pinned.Clear();
    }
}
