using System;
using System.Diagnostics;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>Zapping (Linux <c>unmap_page_range</c> and below) and PMD splits (<c>__split_huge_pmd</c>).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Linux <c>zap_pmd_range</c> / <c>zap_pte_range</c> over [<paramref name="start"/>,
    /// <paramref name="end"/>), one PMD at a time:
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
        ulong address = start;
        while (address < end)
        {
            ulong pmdStart = VirtualAddress.PmdAlignDown(address);
            ulong next = Math.Min(pmdStart + VirtualAddress.PmdSize, end);
            Pte pmd = _tables.ReadPmd(address);
            if (pmd.IsLeafPmd)
            {
                if (address == pmdStart && next - address == VirtualAddress.PmdSize)
                {
                    ZapHugePmd(pmdStart);
                    address = next;
                    continue;
                }

                if (SplitHugePmd(pmdStart) == PmdSplitResult.OutOfMemory)
                    ThrowOutOfMemory(address);
                pmd = _tables.ReadPmd(address);
            }

            if (pmd.IsTable && _tables.Walk(address, allocate: false, out PteTable table) == WalkResult.Table)
            {
                ZapPtes(table, address, next);
                if (reclaimTables && address == pmdStart && next - address == VirtualAddress.PmdSize && _tables.TryFreeEmptyPteTable(pmdStart))
                    _events.Count(VmEvent.PteTableReclaim);
            }

            address = next;
        }
    }

    /// <summary>Linux <c>zap_huge_pmd</c>.</summary>
    private void ZapHugePmd(ulong haddr)
    {
        Pte old = _tables.ClearPmdLeaf(haddr);
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
        Pte* slot = table.At(address);
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
            int nr = FolioPteBatch(slot + i, count - i, pfn, headPfn, order);

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

    /// <summary>
    /// Linux <c>folio_pte_batch</c>: how many PTEs from <paramref name="slot"/> (at most
    /// <paramref name="limit"/>) map consecutive pages of the folio headed at
    /// <paramref name="headPfn"/>, the first of them mapping <paramref name="pfn"/>.
    /// </summary>
    private static int FolioPteBatch(Pte* slot, int limit, uint pfn, uint headPfn, int order)
    {
        limit = Math.Min(limit, (1 << order) - (int)(pfn - headPfn));
        int nr = 1;
        while (nr < limit && slot[nr].IsPresent && !slot[nr].IsSpecial && slot[nr].Pfn == pfn + (ulong)nr)
            nr++;
        return nr;
    }

    /// <summary>
    /// Linux <c>__split_huge_pmd</c> (not freezing): the PMD leaf over <paramref name="haddr"/>
    /// becomes a PTE table mapping the same pages. For a THP, under the PMD lock, the folio gains
    /// 511 references and its rmap moves from the PMD to 512 PTEs (<c>folio_add_anon_rmap_ptes</c>
    /// then <c>folio_remove_rmap_pmd</c>); the huge zero page becomes 512 zero-page PTEs.
    /// </summary>
    internal PmdSplitResult SplitHugePmd(ulong haddr)
    {
        var hook = new PmdRmapHook(this);
        bool traced = LargeFoliosEventSource.IsOn;
        bool hugeZero = traced && _tables.ReadPmd(haddr).IsSpecial;   // the caller's mmap lock keeps the leaf's kind
        PmdSplitResult result = _tables.SplitPmdLeaf(haddr, ZeroPte, ref hook);
        if (result == PmdSplitResult.Split)
        {
            _events.Count(VmEvent.ThpSplitPmd);
            if (traced)
                LargeFoliosEventSource.Log.PmdSplit(_arena.Id, (int)_id, haddr, hugeZero ? 1 : 0);
        }

        return result;
    }

    /// <summary>The rmap half of a PMD split, run under the PMD lock before the PTEs are published.</summary>
    private readonly struct PmdRmapHook(AddressSpace space) : IPmdSplitHook
    {
        public void BeforePublish(Pte leaf)
        {
            if (leaf.IsSpecial)
                return;
            PageDescriptor* head = space._pages + (uint)leaf.Pfn;
            Interlocked.Add(ref head->Refcount, (1 << PageGeometry.PmdOrder) - 1);
            AnonRmap.AddPtes(head, PageGeometry.PmdOrder, 0, 1 << PageGeometry.PmdOrder, space._id);
            bool partially = AnonRmap.RemovePmd(head, PageGeometry.PmdOrder, space._id);
            Debug.Assert(!partially, "a PMD split leaves every page mapped");
        }
    }
}
