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
    /// <exception cref="SyscallException">Populate of a VMA that does not allow the access (Linux: -EINVAL, <c>__get_user_pages</c> with FOLL_MADV_POPULATE); pages before it were populated.</exception>
    /// <exception cref="OutOfMemoryException">Populate found no memory (Linux: -ENOMEM); pages before it were populated.</exception>
    /// <exception cref="BadAddressException">Bad range, or nothing in it is mapped (Linux: -ENOMEM), or populate of a range that starts unmapped; nothing changed.</exception>
    public bool Madvise(ulong start, ulong length, MadviseAdvice advice)
    {
        ThrowIfDisposed();
        if (!Enum.IsDefined(advice))
            throw new ArgumentOutOfRangeException(nameof(advice), advice, $"{(int)advice} is not an advice (Linux: -EINVAL).");
        ulong end = SyscallChecks.Madvise(start, length, out bool empty);
        if (empty)
            return true;   // madvise_should_skip: a zero length does nothing and succeeds

        // No user-space check: the part beyond it is a hole like any other.
        bool beyond = end > VirtualAddress.TaskSize;
        end = Math.Min(end, VirtualAddress.TaskSize);
        if (start >= end)
            throw NothingMapped(start, length);
        if (advice is MadviseAdvice.PopulateRead or MadviseAdvice.PopulateWrite)
        {
            using AddressSpaceReadScope populate = _vmas.Lock.Read();
            ThrowIfDisposedLocked();
            bool populated = PopulateLocked(start, end, advice == MadviseAdvice.PopulateWrite);
            if (FaultPathEventSource.IsOn)
                FaultPathEventSource.Log.Madvise(_arena.Id, (int)_id, start, end - start, advice, 0);
            return populated && !beyond;
        }

        if (advice == MadviseAdvice.Collapse)
        {
            using AddressSpaceWriteScope collapse = _vmas.Lock.Write();
            ThrowIfDisposedLocked();
            bool collapsed = CollapseLocked(start, end);
            if (FaultPathEventSource.IsOn)
                FaultPathEventSource.Log.Madvise(_arena.Id, (int)_id, start, end - start, advice, 0);
            return collapsed && !beyond;
        }

        using AddressSpaceWriteScope scope = _vmas.Lock.Write();
        ThrowIfDisposedLocked();
        bool traced = FaultPathEventSource.IsOn;   // read once: a session may start midway
        long rssBefore = traced ? AnonPages : 0;     // exact: the write lock keeps faults out
        bool covered = advice is MadviseAdvice.DontNeed or MadviseAdvice.Free
            ? MadviseZapOrFreeLocked(start, end, advice)
            : MadviseFlagsLocked(start, end, advice);
        if (traced)
            FaultPathEventSource.Log.Madvise(_arena.Id, (int)_id, start, end - start, advice, rssBefore - AnonPages);
        return covered && !beyond;
    }

    /// <summary>
    /// The advices that change VMA flags (Linux <c>madvise_vma_behavior</c> through
    /// <c>madvise_update_vma</c>): MADV_[NO]HUGEPAGE set one of VM_HUGEPAGE, VM_NOHUGEPAGE and clear
    /// the other; MADV_DONTFORK / DOFORK set / clear VM_DONTCOPY; MADV_WIPEONFORK / KEEPONFORK set /
    /// clear VM_WIPEONFORK. A VMA whose flags that leaves alone is not touched; a PMD leaf across a
    /// new VMA boundary is split first.
    /// </summary>
    private bool MadviseFlagsLocked(ulong start, ulong end, MadviseAdvice advice)
    {
        (VmaFlags set, VmaFlags clear, string what) = advice switch
        {
            MadviseAdvice.HugePage => (VmaFlags.HugePage, VmaFlags.NoHugePage, "madvise(MADV_HUGEPAGE)"),
            MadviseAdvice.NoHugePage => (VmaFlags.NoHugePage, VmaFlags.HugePage, "madvise(MADV_NOHUGEPAGE)"),
            MadviseAdvice.DontFork => (VmaFlags.DontCopy, VmaFlags.None, "madvise(MADV_DONTFORK)"),
            MadviseAdvice.DoFork => (VmaFlags.None, VmaFlags.DontCopy, "madvise(MADV_DOFORK)"),
            MadviseAdvice.WipeOnFork => (VmaFlags.WipeOnFork, VmaFlags.None, "madvise(MADV_WIPEONFORK)"),
            _ => (VmaFlags.None, VmaFlags.WipeOnFork, "madvise(MADV_KEEPONFORK)"),
        };
        var boundaries = new PmdBoundaryHook(this);
        return _vmas.ChangeFlags(start, end - start, set, clear, ref boundaries, what);   // with nothing mapped, throws as Linux's -ENOMEM
    }

    private static BadAddressException NothingMapped(ulong start, ulong length) =>
        new($"Cannot madvise 0x{start:x}..+0x{length:x}: nothing is mapped there (Linux: -ENOMEM).", start, length, Errno.ENOMEM);

    /// <summary>MADV_DONTNEED (zap, reclaiming emptied PTE tables) and MADV_FREE, VMA by VMA.</summary>
    private bool MadviseZapOrFreeLocked(ulong start, ulong end, MadviseAdvice advice)
    {
        ulong length = end - start;
        Vma[] vmas = _vmas.FindIntersecting(start, length);
        if (vmas.Length == 0)
            throw NothingMapped(start, length);
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
            if (AnonRmap.MaybeMappedShared(space._pages + headPfn, PageGeometry.PmdOrder))
                return WalkAction.Continue;   // madvise_free_huge_pmd: another process maps it
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
                    if (AnonRmap.MaybeMappedShared(head, order))
                    {
                        i += nr;   // another process maps it: leave it whole
                        continue;
                    }

                    table.Unlock();
                    bool split = SplitForMadviseFree(headPfn, order);
                    table.Lock();
                    if (split)
                        continue;   // look at the same PTE again: it now maps an order-0 folio (or the zero page)
                    i += nr;
                    continue;
                }
            }

            if ((head->Flags & (ulong)PageFlags.Dirty) != 0)
            {
                // A dirty folio may be dropped only when this mapping is all of it.
                if (AnonRmap.Mapcount(head, order) != 1 << order)
                {
                    i += nr;
                    continue;
                }

                head->Flags &= ~(ulong)PageFlags.Dirty;   // folio_clear_dirty
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
