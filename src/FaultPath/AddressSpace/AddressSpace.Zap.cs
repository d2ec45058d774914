using System.Diagnostics;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>Zapping (Linux <c>unmap_page_range</c>: <c>zap_pmd_range</c>, <c>zap_huge_pmd</c>, <c>zap_pte_range</c>).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Linux <c>zap_pmd_range</c> / <c>zap_pte_range</c> over [<paramref name="start"/>,
    /// <paramref name="end"/>), as a range walk (<see cref="ZapVisitor"/>):
    /// <list type="bullet">
    /// <item>a PMD leaf the range covers whole is cleared (<c>zap_huge_pmd</c>: its deposited table
    /// freed, the folio's PMD mapping removed and its reference dropped); one covered in part is
    /// split into PTEs first;</item>
    /// <item>PTEs are cleared in batches of consecutive pages of one folio
    /// (<c>zap_present_ptes</c>): rmap loses them, the folio loses one reference each, and a large
    /// folio left partly mapped is queued for deferred split (<c>__folio_remove_rmap</c>);</item>
    /// <item>with <paramref name="reclaimTables"/> (MADV_DONTNEED, CONFIG_PT_RECLAIM), a PTE table
    /// whose whole 2 MiB was zapped is freed and the PMD entry cleared.</item>
    /// </list>
    /// The caller holds the mmap lock for write.
    /// </summary>
    private void ZapRange(ulong start, ulong end, bool reclaimTables)
    {
        Debug.Assert(_vmas.Lock.IsWriteHeld, "zapping without the mmap write lock");
        var zap = new ZapVisitor(this, reclaimTables);
        _tables.WalkRange(start, end, ref zap);
    }

    /// <summary>The zap's visitor: leaves whole or split, PTEs in folio batches.</summary>
    private readonly struct ZapVisitor(AddressSpace space, bool reclaimTables) : IPageWalkVisitor
    {
        public WalkAction PteHole(ulong address, ulong limit, PageTableLevel level) => WalkAction.Continue;

        public WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit)
        {
            if (!pmd.Value.IsLeafPmd)
                return WalkAction.Subtree;
            if (pmd.CoversWhole(address, limit))
            {
                space.ZapHugePmd(in pmd);
                return WalkAction.Continue;
            }

            if (space.SplitHugePmd(in pmd) == PmdSplitResult.OutOfMemory)
                ThrowOutOfMemory(address);
            return WalkAction.Again;   // the PTEs the split left
        }

        public WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit)
        {
            space.ZapPtes(table, address, limit);
            if (reclaimTables && pmd.CoversWhole(address, limit) && space._tables.TryFreeEmptyPteTable(in pmd))
                space._events.Count(VmEvent.PteTableReclaim);
            return WalkAction.Continue;
        }
    }

    /// <summary>Linux <c>zap_huge_pmd</c>.</summary>
    private void ZapHugePmd(in PmdSlot pmd)
    {
        Pte old = _tables.ClearPmdLeaf(in pmd);
        if (old.IsNone || old.IsSpecial)
            return;   // gone already, or the huge zero page (no rmap, no reference)

        uint pfn = (uint)old.Pfn;
        PageDescriptor* head = _pages + pfn;
        bool partially = AnonRmap.RemovePmd(head, PageGeometry.PmdOrder, _id);
        _rss.Add(0, -(1 << PageGeometry.PmdOrder));
        if (partially)
            _machine.DeferredSplitQueue.Queue(pfn, PageGeometry.PmdOrder, partiallyMapped: true);
        _machine.ReleaseFolio(_arena.HandleOf(pfn, PageGeometry.PmdOrder), 1);
    }

    /// <summary>Linux <c>zap_pte_range</c> over [<paramref name="address"/>, <paramref name="end"/>) of one PTE table.</summary>
    private void ZapPtes(PteTable table, ulong address, ulong end)
    {
        table.Lock();
        Pte* slot = table.Slot(address);
        int count = (int)((end - address) >> PageGeometry.PageShift);
        for (int i = 0; i < count;)
        {
            Pte pte = slot[i];
            if (pte.IsNone)
            {
                i++;
                continue;
            }

            if (pte.IsSpecial)
            {
                slot[i] = Pte.None;   // the zero page: no folio, no reference
                i++;
                continue;
            }

            uint pfn = (uint)pte.Pfn;
            uint headPfn = AnonRmap.HeadOf(_pages, pfn, out int order);
            PageDescriptor* head = _pages + headPfn;
            int page = (int)(pfn - headPfn);
            int nr = FolioPteBatch.Count(slot + i, count - i, pfn, headPfn, order);

            for (int j = 0; j < nr; j++)
                slot[i + j] = Pte.None;
            bool partially = AnonRmap.RemovePtes(head, order, page, nr, _id);
            _rss.Add(0, -nr);
            if (partially && (head[1].Flags & (ulong)FolioFlags.PartiallyMapped) == 0)
                _machine.DeferredSplitQueue.Queue(headPfn, order, partiallyMapped: true);
            _machine.ReleaseFolio(_arena.HandleOf(headPfn, order), nr);
            i += nr;
        }

        table.Unlock();
    }
}
