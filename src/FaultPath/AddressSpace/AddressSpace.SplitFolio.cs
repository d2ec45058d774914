using System;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>Debugfs <c>split_huge_pages</c> for one process, and the split of a folio it maps (<see cref="Machine.SplitFolio"/>).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Linux's debugfs <c>split_huge_pages</c> for one process (<c>split_huge_pages_pid</c>): every
    /// large folio mapped in [<paramref name="start"/>, <paramref name="start"/> +
    /// <paramref name="length"/>) above <paramref name="newOrder"/> is split to it, uniformly; with
    /// <paramref name="inFolioOffset"/> in range, non-uniformly around that page (Linux 6.15's
    /// <c>folio_split</c>). Mapped pages stay mapped; order-0 pieces that are all zeros become
    /// zero-page mappings and are freed. The walk stops at the first address no VMA covers.
    /// </summary>
    /// <returns>How many folios were split.</returns>
    /// <exception cref="BadAddressException">Bad range; nothing changed.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="newOrder"/> is outside 0..8.</exception>
    public int SplitFolios(ulong start, ulong length, int newOrder, long inFolioOffset = -1)
    {
        ThrowIfDisposed();
        ulong end = AddressChecks.CheckRange(start, length, "split huge pages");
        if ((uint)newOrder >= PageGeometry.PmdOrder)
            throw new ArgumentOutOfRangeException(nameof(newOrder), newOrder, $"Cannot split to order {newOrder}: expected 0..{PageGeometry.PmdOrder - 1}.");

        int split = 0;
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        for (ulong address = start; address < end; address += PageGeometry.PageSize)
        {
            if (!_vmas.TryFind(address, out _))
                break;
            Pte pte = _tables.Lookup(address);
            if (!pte.IsPresent || pte.IsSpecial)
                continue;
            uint headPfn = AnonRmap.HeadOf(_pages, (uint)pte.Pfn, out int order);
            PageDescriptor* head = _pages + headPfn;
            if (!head->IsHead || !head[1].IsLargeRmappable)
                continue;   // not a transparent huge page
            if (newOrder >= order)
                continue;

            // can_split_folio(folio, 0): a folio someone else holds (a pin, a scan) is skipped
            // before it is tried, so it is not counted as a failed split.
            if (Volatile.Read(ref head->Refcount) != AnonRmap.Mapcount(head, order) || !_arena.TryGetReference(headPfn))
                continue;
            uint at = inFolioOffset >= 0 && inFolioOffset < 1L << order ? headPfn + (uint)inFolioOffset : uint.MaxValue;
            if (SplitMappedFolioLocked(_arena.HandleOf(headPfn, order), newOrder, at) == SplitOutcome.Split)
                split++;
            _machine.ReleaseFolioAt(headPfn, 1);
        }

        return split;
    }

    /// <summary>
    /// <see cref="Machine.SplitFolio"/> for a caller that holds this address space's mmap lock (either
    /// side): MADV_FREE, debugfs. The caller holds one reference, which stays with the new folio
    /// holding the old head page.
    /// </summary>
    internal SplitOutcome SplitMappedFolioLocked(Folio folio, int newOrder, uint splitAtPfn) =>
        _machine.SplitFolio(folio, newOrder, splitAtPfn, lockHolder: this);
}
