using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>madvise (Linux mm/madvise.c): the advice, MADV_[NO]HUGEPAGE, MADV_DONTNEED and MADV_FREE; MADV_POPULATE_* is in its own file.</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// <c>madvise(start, length, advice)</c> over the mapped parts of the range:
    /// <list type="bullet">
    /// <item>HugePage / NoHugePage set VM_HUGEPAGE / VM_NOHUGEPAGE (splitting and merging VMAs; a
    /// PMD-mapped THP across a new VMA boundary is remapped by PTEs, Linux <c>vma_adjust_trans_huge</c>).</item>
    /// <item>DontNeed zaps the range now; a PTE table whose whole 2 MiB was zapped is freed
    /// (CONFIG_PT_RECLAIM), so a later fault there may map a PMD THP again.</item>
    /// <item>Free marks the range's folios lazily freeable (clean, not swap-backed); a large folio the
    /// range covers only in part is split to order 0 first (Linux <c>madvise_free_pte_range</c>,
    /// <c>madvise_free_huge_pmd</c>), and its zero-filled pages are remapped to the zero page.</item>
    /// <item>PopulateRead / PopulateWrite fault in every page not yet mapped as the access needs,
    /// in address order, exactly as loads or stores to each page would (Linux <c>madvise_populate</c>:
    /// <c>faultin_page_range</c> under the mmap read lock), stopping at the first unmapped page.</item>
    /// </list>
    /// </summary>
    /// <returns>True; false when part of the range is unmapped (Linux: -ENOMEM; the other advices apply to the mapped parts all the same, populate stops at the hole).</returns>
    /// <exception cref="SegmentationFaultException">Populate of a VMA that does not allow the access (Linux: -EFAULT); pages before it were populated.</exception>
    /// <exception cref="OutOfMemoryException">Populate found no memory (Linux: -ENOMEM); pages before it were populated.</exception>
    /// <exception cref="BadAddressException">Bad range, or nothing in it is mapped (Linux: -ENOMEM); nothing changed.</exception>
    public bool Madvise(ulong start, ulong length, MadviseAdvice advice)
    {
        ThrowIfDisposed();
        if (length == 0 && VirtualAddress.IsPageAligned(start))
            return true;   // madvise_should_skip: a zero length does nothing and succeeds
        length = PageAlign(length, start, "madvise");
        ulong end = AddressChecks.CheckRange(start, length, "madvise");
        if (!Enum.IsDefined(advice))
            throw new ArgumentOutOfRangeException(nameof(advice), advice, $"{(int)advice} is not an advice; expected hugepage, nohugepage, dontneed, free, populate_read or populate_write.");
        if (advice is MadviseAdvice.Collapse or MadviseAdvice.DontFork or MadviseAdvice.DoFork or MadviseAdvice.WipeOnFork or MadviseAdvice.KeepOnFork)
            throw new NotSupportedException($"madvise {advice} is not modelled yet");
        if (advice is MadviseAdvice.PopulateRead or MadviseAdvice.PopulateWrite)
        {
            using AddressSpaceReadScope populate = _vmas.Lock.Read();
            ThrowIfDisposedLocked();
            bool populated = PopulateLocked(start, end, advice == MadviseAdvice.PopulateWrite);
            if (FaultPathEventSource.IsOn)
                FaultPathEventSource.Log.Madvise(_arena.Id, (int)_id, start, length, advice, 0);
            return populated;
        }

        using AddressSpaceWriteScope scope = _vmas.Lock.Write();
        ThrowIfDisposedLocked();
        bool traced = FaultPathEventSource.IsOn;   // read once: a session may start midway
        long rssBefore = traced ? AnonPages : 0;     // exact: the write lock keeps faults out
        bool covered = advice is MadviseAdvice.HugePage or MadviseAdvice.NoHugePage
            ? MadviseHugePageLocked(start, end, advice == MadviseAdvice.HugePage)
            : MadviseZapOrFreeLocked(start, end, advice);
        if (traced)
            FaultPathEventSource.Log.Madvise(_arena.Id, (int)_id, start, length, advice, rssBefore - AnonPages);
        return covered;
    }

    /// <summary>
    /// MADV_HUGEPAGE / MADV_NOHUGEPAGE (Linux <c>hugepage_madvise</c> through <c>madvise_update_vma</c>):
    /// a PMD leaf across either end of the range is split first, where the VMA will be split.
    /// </summary>
    private bool MadviseHugePageLocked(ulong start, ulong end, bool hugePage)
    {
        ulong length = end - start;
        Vma[] before = _vmas.FindIntersecting(start, length);
        if (before.Length > 0)
        {
            SplitPmdAcrossBoundary(start, before[0], hugePage);
            SplitPmdAcrossBoundary(end, before[^1], hugePage);
        }

        return _vmas.Madvise(start, length, hugePage);   // with nothing mapped, throws as Linux's -ENOMEM
    }

    /// <summary>MADV_DONTNEED (zap, reclaiming emptied PTE tables) and MADV_FREE, VMA by VMA.</summary>
    private bool MadviseZapOrFreeLocked(ulong start, ulong end, MadviseAdvice advice)
    {
        ulong length = end - start;
        Vma[] vmas = _vmas.FindIntersecting(start, length);
        if (vmas.Length == 0)
            AddressChecks.Throw($"Cannot madvise 0x{start:x}..0x{end:x}: nothing is mapped there (Linux: -ENOMEM).", start, length);
        ulong covered = 0;
        foreach (Vma vma in vmas)
        {
            ulong from = Math.Max(vma.Start, start);
            ulong to = Math.Min(vma.End, end);
            covered += to - from;
            if (advice == MadviseAdvice.DontNeed)
                ZapRange(from, to, reclaimTables: true);
            else if (vma.IsAnonymous)
                MadviseFreeRange(from, to);
        }

        return covered == length;
    }

    // ---------------------------------------------------------------- MADV_FREE

    /// <summary>
    /// Linux <c>madvise_free_pte_range</c> over [<paramref name="start"/>, <paramref name="end"/>) of
    /// an anonymous VMA, as a range walk (<see cref="MadviseFreeVisitor"/>). A PMD leaf covered whole
    /// is cleaned (<c>madvise_free_huge_pmd</c>: the leaf loses Dirty and Accessed, the folio its swap
    /// backing); covered in part, its folio is split to order 0 and the PTEs handled below. A large
    /// folio whose PTEs in the range are fewer than its pages is split to order 0 first, then every
    /// PTE of the range is cleaned and its folio marked lazily freeable (<c>folio_mark_lazyfree</c>).
    /// The zero page is skipped.
    /// </summary>
    private void MadviseFreeRange(ulong start, ulong end)
    {
        var free = new MadviseFreeVisitor(this);
        _tables.WalkRange(start, end, ref free);
    }

    private readonly struct MadviseFreeVisitor(AddressSpace space) : IPageWalkVisitor
    {
        public WalkAction PteHole(ulong address, ulong limit, PageTableLevel level) => WalkAction.Continue;

        public WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit)
        {
            Pte entry = pmd.Value;
            if (!entry.IsLeafPmd)
                return WalkAction.Subtree;
            if (entry.IsSpecial)
                return WalkAction.Continue;   // the huge zero page

            uint headPfn = (uint)entry.Pfn;
            if (pmd.CoversWhole(address, limit))
            {
                if (space._tables.TryReplacePmdLeaf(in pmd, entry, entry.Without(PteFlags.Dirty | PteFlags.Accessed)))
                    MarkLazyFree(space._pages + headPfn);
                return WalkAction.Continue;
            }

            // Part of a PMD THP: split it, then walk the PTEs it left, unless it stayed a leaf.
            space.SplitForMadviseFree(headPfn, PageGeometry.PmdOrder);
            return pmd.Current.IsLeafPmd ? WalkAction.Continue : WalkAction.Again;
        }

        public WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit)
        {
            space.MadviseFreePtes(table, address, limit);
            return WalkAction.Continue;
        }
    }

    private void MadviseFreePtes(PteTable table, ulong address, ulong end)
    {
        int count = (int)((end - address) >> PageGeometry.PageShift);
        table.Lock();
        Pte* slot = table.Slot(address);
        for (int i = 0; i < count;)
        {
            Pte pte = slot[i];
            if (!pte.IsPresent || pte.IsSpecial)
            {
                i++;
                continue;
            }

            uint pfn = (uint)pte.Pfn;
            uint headPfn = AnonRmap.HeadOf(_pages, pfn, out int order);
            PageDescriptor* head = _pages + headPfn;
            int nr = 1;
            if (order > 0)
            {
                // madvise_folio_pte_batch from this PTE to the range's end.
                nr = FolioPteBatch.Count(slot + i, count - i, pfn, headPfn, order);
                if (nr < 1 << order)
                {
                    table.Unlock();
                    bool split = SplitForMadviseFree(headPfn, order);
                    table.Lock();
                    if (split)
                        continue;   // look at the same PTE again: it now maps an order-0 folio (or the zero page)
                    i += nr;
                    continue;
                }
            }

            for (int j = 0; j < nr; j++)
                slot[i + j] = slot[i + j].Without(PteFlags.Dirty | PteFlags.Accessed);
            MarkLazyFree(head);
            i += nr;
        }

        table.Unlock();
    }

    /// <summary><c>folio_get</c>, <c>split_folio</c>, <c>folio_put</c>: true when the folio was split.</summary>
    private bool SplitForMadviseFree(uint headPfn, int order)
    {
        if (!_arena.TryGetReference(headPfn))
            return false;
        bool split = SplitMappedFolioLocked(_arena.HandleOf(headPfn, order), 0, uint.MaxValue) == SplitOutcome.Split;
        _machine.ReleaseFolioAt(headPfn, 1);
        return split;
    }

    /// <summary>Linux <c>folio_mark_lazyfree</c>: clean and no longer swap-backed, so reclaim may drop it.</summary>
    private static void MarkLazyFree(PageDescriptor* head) =>
        head->Flags &= ~(ulong)(PageFlags.SwapBacked | PageFlags.Dirty);
}
