using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>MADV_COLLAPSE (Linux 6.18 mm/khugepaged.c: <c>madvise_collapse</c>, <c>hpage_collapse_scan_pmd</c>, <c>collapse_huge_page</c>, with <c>is_khugepaged</c> false).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>A block's outcome (Linux's <c>enum scan_result</c>, the values MADV_COLLAPSE on anonymous memory can meet).</summary>
    private enum CollapseResult
    {
        /// <summary>SCAN_SUCCEED: collapsed into a new PMD THP.</summary>
        Succeed,

        /// <summary>SCAN_PMD_MAPPED: a PMD already maps the block (a THP, or the huge zero page): counts as done.</summary>
        PmdMapped,

        /// <summary>SCAN_PMD_NULL: no PMD table for the block's 1 GiB (EINVAL; the next block is tried).</summary>
        PmdNull,

        /// <summary>SCAN_PMD_NONE: no PTE table for the block (EINVAL; the walk stops).</summary>
        PmdNone,

        /// <summary>SCAN_PAGE_COUNT: a folio holds a reference beyond its mappings (EAGAIN; the next block is tried).</summary>
        PageCount,

        /// <summary>SCAN_ALLOC_HUGE_PAGE_FAIL: no free PMD-sized block (ENOMEM; the walk stops).</summary>
        AllocFail,

        /// <summary>SCAN_FAIL: the range is not one a collapse can take (EINVAL).</summary>
        Fail,
    }

    /// <summary>
    /// <c>madvise(MADV_COLLAPSE)</c> over [<paramref name="start"/>, <paramref name="end"/>), the mmap lock
    /// held for write (Linux drops its read lock for the write lock around each collapse; here faults
    /// wait throughout): VMA by VMA, clipped to each, the first that fails ends the call with its
    /// errno (<see cref="CollapseVma"/>); a hole, with every VMA done, is ENOMEM (false).
    /// </summary>
    /// <returns>False when part of the range is unmapped (Linux: -ENOMEM after the rest).</returns>
    /// <exception cref="SyscallException">A VMA's collapse failed (EINVAL, EAGAIN, ENOMEM); the blocks before it stay collapsed.</exception>
    private bool CollapseLocked(ulong start, ulong end)
    {
        Vma[] vmas = _vmas.FindIntersecting(start, end - start);
        if (vmas.Length == 0)
            throw NothingMapped(start, end - start);
        bool hole = vmas[0].Start > start || vmas[^1].End < end;
        for (int i = 0; i < vmas.Length; i++)
        {
            if (i > 0 && vmas[i].Start != vmas[i - 1].End)
                hole = true;
            CollapseVma(vmas[i], Math.Max(start, vmas[i].Start), Math.Min(end, vmas[i].End));
        }

        return !hole;
    }

    /// <summary>
    /// Linux <c>madvise_collapse</c> for one VMA and its part of the range. The VMA must allow it
    /// (<c>thp_vma_allowable_order</c> with TVA_FORCED_COLLAPSE: no VM_NOHUGEPAGE, room for an aligned
    /// 2 MiB block, an anon_vma; the sysfs settings do not matter), else EINVAL. Each 2 MiB block wholly
    /// inside the range is collapsed in address order (<see cref="CollapseBlock"/>); the call succeeds
    /// when every one did, else fails with the errno of the last failure (a block without a PTE table,
    /// or an allocation that failed, ends the loop). A range strictly inside one block (touching
    /// neither of its boundaries) is EINVAL, as Linux's unsigned arithmetic makes it.
    /// </summary>
    private void CollapseVma(in Vma vma, ulong start, ulong end)
    {
        const ulong Pmd = VirtualAddress.PmdSize;
        if ((vma.Flags & VmaFlags.NoHugePage) != 0)
            RefuseCollapse(start, Errno.EINVAL, $"the VMA 0x{vma.Start:x}..0x{vma.End:x} has VM_NOHUGEPAGE");
        if (vma.Length < Pmd || ((vma.End - Pmd) & ~(Pmd - 1)) < vma.Start)
            RefuseCollapse(start, Errno.EINVAL, $"the VMA 0x{vma.Start:x}..0x{vma.End:x} holds no 2 MiB-aligned block");
        if (vma.AnonVma == 0)
            RefuseCollapse(start, Errno.EINVAL, $"the VMA 0x{vma.Start:x}..0x{vma.End:x} has no anon_vma (nothing was ever allocated in it)");

        ulong first = (start + Pmd - 1) & ~(Pmd - 1);
        ulong last = end & ~(Pmd - 1);
        if (first == last)
            return;
        if (last < first)
            RefuseCollapse(start, Errno.EINVAL, $"0x{start:x}..0x{end:x} lies inside one 2 MiB block without reaching either of its ends");
        int collapsed = 0;
        int blocks = (int)((last - first) / Pmd);
        CollapseResult lastFail = CollapseResult.Fail;
        for (ulong block = first; block < last; block += Pmd)
        {
            CollapseResult result = CollapseBlock(vma, block);
            if (result is CollapseResult.Succeed or CollapseResult.PmdMapped)
            {
                collapsed++;
                continue;
            }

            lastFail = result;
            if (result is not (CollapseResult.PmdNull or CollapseResult.PageCount))
                break;
        }

        if (collapsed != blocks)
        {
            (Errno errno, string why) = lastFail switch
            {
                CollapseResult.PageCount => (Errno.EAGAIN, "a folio in it holds a reference beyond its mappings"),
                CollapseResult.AllocFail => (Errno.ENOMEM, "no free PMD-sized block for the new THP"),
                CollapseResult.PmdNone => (Errno.EINVAL, "a block in it has no PTE table (nothing was ever mapped there, or it was all dropped)"),
                CollapseResult.PmdNull => (Errno.EINVAL, "a block in it has no PMD table"),
                _ => (Errno.EINVAL, "a block in it cannot be collapsed"),
            };
            RefuseCollapse(start, errno, why);
        }
    }

    /// <summary>
    /// Linux <c>hpage_collapse_scan_pmd</c> then <c>collapse_huge_page</c> for the 2 MiB block at
    /// <paramref name="block"/>: no PMD table is PMD_NULL, no PTE table PMD_NONE, a PMD leaf already
    /// done. Otherwise every PTE may be none, the zero page, read-only, PROT_NONE, of a large folio
    /// (whole or not), or shared with another process: MADV_COLLAPSE applies none of khugepaged's
    /// limits; only a folio with a reference beyond its mappings stops it (PAGE_COUNT). Then a PMD THP
    /// is allocated (<c>thp_collapse_alloc</c>, or <c>thp_collapse_alloc_failed</c>), filled with the
    /// block's contents, the old PTEs taken out as a zap would (in folio batches: an old folio still
    /// mapped elsewhere may become partially mapped), RssAnon raised by the pages that were not
    /// mapped, and the THP mapped by the PMD, the old table deposited beside it, queued for the
    /// underused shrinker like a fault's.
    /// </summary>
    private CollapseResult CollapseBlock(in Vma vma, ulong block)
    {
        if (!_tables.HasPmdTable(block))
            return CollapseResult.PmdNull;
        _tables.FindPmd(block, allocate: false, out PmdSlot pmd);
        Pte entry = pmd.Value;
        if (entry.IsNone)
            return CollapseResult.PmdNone;
        if (entry.IsLeafPmd)
            return CollapseResult.PmdMapped;
        _tables.PteTableOf(in pmd, allocate: false, out PteTable table);
        Pte* slot = table.Slot(block);
        for (int i = 0; i < VirtualAddress.EntriesPerTable; i++)
        {
            Pte pte = slot[i];
            if (!pte.IsPresent || pte.IsSpecial)
                continue;
            uint headPfn = AnonRmap.HeadOf(_pages, (uint)pte.Pfn, out int order);
            PageDescriptor* head = _pages + headPfn;
            if (head->Refcount != AnonRmap.Mapcount(head, order))
                return CollapseResult.PageCount;
        }

        if (!_arena.TryAllocate(PageGeometry.PmdOrder, FolioKind.Anonymous, out Folio folio))
        {
            _events.Count(VmEvent.ThpCollapseAllocFailed);
            return CollapseResult.AllocFail;
        }

        _events.Count(VmEvent.ThpCollapseAlloc);
        table.Lock();
        for (int i = 0; i < VirtualAddress.EntriesPerTable; i++)
        {
            Pte pte = slot[i];
            if (!pte.IsPresent || pte.IsSpecial)
                _machine.Contents.Clear(folio.Pfn + (uint)i, 1);
            else
                _machine.Contents.Copy((uint)pte.Pfn, folio.Pfn + (uint)i);
        }

        long added = 0;
        for (int i = 0; i < VirtualAddress.EntriesPerTable;)
        {
            Pte pte = slot[i];
            if (!pte.IsPresent || pte.IsSpecial)
            {
                slot[i] = Pte.None;
                added++;
                i++;
                continue;
            }

            uint pfn = (uint)pte.Pfn;
            uint headPfn = AnonRmap.HeadOf(_pages, pfn, out int order);
            PageDescriptor* head = _pages + headPfn;
            int nr = FolioPteBatch.Count(slot + i, VirtualAddress.EntriesPerTable - i, pfn, headPfn, order);
            for (int j = 0; j < nr; j++)
                slot[i + j] = Pte.None;
            bool partially = AnonRmap.RemovePtes(head, order, (int)(pfn - headPfn), nr, _id);
            if (partially && (head[1].Flags & (ulong)FolioFlags.PartiallyMapped) == 0)
                _machine.DeferredSplitQueue.Queue(headPfn, order, partiallyMapped: true);
            _machine.ReleaseFolio(_arena.HandleOf(headPfn, order), nr);
            i += nr;
        }

        table.Unlock();
        _rss.Add(0, added);
        uint anonVma = vma.AnonVma;
        AnonRmap.AddNew(_pages + folio.Pfn, PageGeometry.PmdOrder, AnonMapping(anonVma), vma.PageIndexOf(block), byPmd: true, _id);
        _mthp.Add(PageGeometry.PmdOrder, MthpStatItem.NrAnon, 1);
        PteFlags access = ProtectionBits(vma.Flags) | ((vma.Flags & VmaFlags.Write) != 0 ? PteFlags.Write : 0);
        Pte leaf = Pte.Make(folio.Pfn, PteFlags.Present | PteFlags.Huge | PteFlags.Accessed | PteFlags.Dirty | access);
        _tables.CollapsePteTable(in pmd, leaf);
        if (_policy.ShrinkUnderused)
            _machine.DeferredSplitQueue.Queue(folio.Pfn, PageGeometry.PmdOrder, partiallyMapped: false);
        return CollapseResult.Succeed;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void RefuseCollapse(ulong start, Errno errno, string why) =>
        throw new SyscallException($"Cannot madvise(MADV_COLLAPSE) at 0x{start:x}: {why}.", errno, start);
}
