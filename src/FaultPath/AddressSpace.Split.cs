using System;
using System.Diagnostics;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>Splitting mapped folios (Linux <c>__folio_split</c>: unmap, split, remap) and MADV_FREE.</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>Linux -EINVAL: the split was refused before it started (order 1 for anon, not below the folio's order); not counted.</summary>
    internal const int SplitInvalid = -22;

    /// <summary>Linux -EAGAIN: the folio has references beyond its mappings and the caller's (counted as split_failed), or its lock is busy (not counted).</summary>
    internal const int SplitBusy = -11;

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
            Pte pte = Translate(address);
            if (!pte.IsPresent || pte.IsSpecial)
                continue;
            uint pfn = (uint)pte.Pfn;
            uint headPfn = _pages[pfn].IsTail ? _pages[pfn].HeadPfn : pfn;
            PageDescriptor* head = _pages + headPfn;
            if (!head->IsHead || !head[1].IsLargeRmappable)
                continue;   // not a transparent huge page
            int order = head[1].FolioOrder;
            if (newOrder >= order)
                continue;

            // can_split_folio(folio, 0): a folio someone else holds (a pin, a scan) is skipped
            // before it is tried, so it is not counted as a failed split.
            if (Volatile.Read(ref head->Refcount) != AnonRmap.Mapcount(head, order) || !_machine.TryGetReference(headPfn))
                continue;
            uint at = inFolioOffset >= 0 && inFolioOffset < 1L << order ? headPfn + (uint)inFolioOffset : uint.MaxValue;
            if (SplitMappedFolioLocked(_arena.HandleOf(headPfn, order), newOrder, at) == 0)
                split++;
            _machine.ReleaseFolioAt(headPfn, 1);
        }

        return split;
    }

    /// <summary><see cref="SplitMappedFolioLocked"/> for a caller without the mmap lock (the shrinker).</summary>
    internal int SplitMappedFolio(Folio folio, int newOrder, uint splitAtPfn)
    {
        using AddressSpaceReadScope scope = _vmas.Lock.Read();

        // exit_mmap ran (under the write lock) while the caller held its reference: the folio is
        // mapped nowhere, and the tables are gone (Linux: folio_get_anon_vma fails, -EBUSY).
        if (_disposed)
        {
            _machine.CountSplitFailed(folio.Pfn, folio.Order, newOrder, FolioSplitRefusal.NotMapped);
            return SplitBusy;
        }

        return SplitMappedFolioLocked(folio, newOrder, splitAtPfn);
    }

    /// <summary>
    /// Linux <c>__folio_split</c> of a folio this address space maps, the caller holding one
    /// reference and the mmap lock:
    /// <list type="number">
    /// <item>refuse order 1 for anon, or an order not below the folio's (-EINVAL, not counted);</item>
    /// <item>take the folio lock, or give up (-EAGAIN);</item>
    /// <item><c>can_split_folio</c>: refcount == mapcount + the caller's one, else -EAGAIN and
    /// <c>split_failed</c>;</item>
    /// <item><c>unmap_folio</c>: a PMD mapping is split into PTEs, then the folio's PTEs are taken
    /// out (Linux leaves migration entries; here the PTE table lock is held throughout);</item>
    /// <item>off the deferred-split queue, then the split itself in the arena (uniform, or
    /// non-uniform at <paramref name="splitAtPfn"/>), <c>split</c> and <c>nr_anon</c> counted;</item>
    /// <item><c>remap_page</c> with RMP_USE_SHARED_ZEROPAGE: every page gets its PTE back, except an
    /// order-0 piece that is all zeros, which is mapped to the zero page instead
    /// (<c>try_to_map_unused_to_zeropage</c>); a new folio nobody maps is freed.</item>
    /// </list>
    /// The caller's reference stays with the new folio holding the old head page.
    /// </summary>
    /// <returns>0, <see cref="SplitInvalid"/> or <see cref="SplitBusy"/>.</returns>
    internal int SplitMappedFolioLocked(Folio folio, int newOrder, uint splitAtPfn)
    {
        uint pfn = folio.Pfn;
        int order = folio.Order;
        PageDescriptor* head = _pages + pfn;
        int nr = 1 << order;
        if (newOrder >= order || newOrder == 1)
        {
            if (LargeFoliosEventSource.IsOn)
                LargeFoliosEventSource.Log.FolioSplitRefused(_arena.Id, pfn, order, newOrder, (int)FolioSplitRefusal.InvalidOrder);
            return SplitInvalid;
        }
        if (!TryLockFolio(head))
            return SplitBusy;

        bool split = false;
        try
        {
            // can_split_folio (racy, as in Linux: the freeze below decides), and folio_get_anon_vma:
            // a folio nothing maps any more cannot be split (-EBUSY).
            int mapcount = AnonRmap.Mapcount(head, order);
            if (mapcount == 0 || Volatile.Read(ref head->Refcount) != mapcount + 1)
            {
                _machine.CountSplitFailed(pfn, order, newOrder, mapcount == 0 ? FolioSplitRefusal.NotMapped : FolioSplitRefusal.ExtraReferences);
                return SplitBusy;
            }

            ulong va = head->Index << PageGeometry.PageShift;
            if (order >= PageGeometry.PmdOrder && head[1].EntireMapcount >= 0)
            {
                // unmap_folio's TTU_SPLIT_HUGE_PMD: the PMD mapping becomes 512 PTE mappings.
                if (SplitHugePmd(va) == PmdSplitResult.OutOfMemory)
                {
                    _machine.CountSplitFailed(pfn, order, newOrder, FolioSplitRefusal.NoMemory);
                    return SplitBusy;
                }

                mapcount = AnonRmap.Mapcount(head, order);
            }

            PteTable table = default;
            bool haveTable = mapcount > 0 && _tables.Walk(va, allocate: false, out table) == WalkResult.Table;
            if (haveTable)
                table.Lock();
            try
            {
                // unmap_folio: take the folio's PTEs out, keeping them to put back.
                Span<Pte> saved = stackalloc Pte[nr];
                saved.Clear();
                int unmapped = 0;
                if (haveTable)
                {
                    Pte* slot = table.At(va);
                    for (int i = 0; i < nr; i++)
                    {
                        Pte pte = slot[i];
                        if (pte.IsPresent && !pte.IsSpecial && pte.Pfn == pfn + (ulong)i)
                        {
                            saved[i] = pte;
                            slot[i] = Pte.None;
                            unmapped++;
                        }
                    }
                }

                Debug.Assert(unmapped == mapcount, "a folio mapped outside its own PTE range");

                // folio_ref_freeze(folio, 1 + mappings) under the deferred-split queue's lock, where
                // the shrinker takes its references: a reference taken since the check above (a
                // scan, another split) makes the freeze fail, and the PTEs go back untouched.
                DeferredSplitQueue queue = _machine.DeferredSplitQueue;
                queue.Lock.Enter();
                bool frozen = Interlocked.CompareExchange(ref head->Refcount, 0, unmapped + 1) == unmapped + 1;
                if (frozen)
                    queue.UnqueueLocked(pfn, order);
                queue.Lock.Exit();
                if (!frozen)
                {
                    Pte* slot = table.At(va);
                    for (int i = 0; i < nr; i++)
                    {
                        if (!saved[i].IsNone)
                            slot[i] = saved[i];
                    }

                    _machine.CountSplitFailed(pfn, order, newOrder, FolioSplitRefusal.Frozen);
                    return SplitBusy;
                }

                ResetRmap(head, order);
                head->Refcount = 1;   // the arena's split takes the folio with one reference

                FolioRange pieces = splitAtPfn == uint.MaxValue
                    ? _arena.SplitUniform(folio, newOrder)
                    : _arena.SplitNonUniform(folio, newOrder, splitAtPfn);
                _machine.CountSplit(order, failed: false);
                _mthp.Add(order, MthpStatItem.NrAnon, -1);

                split = true;
                foreach (Folio piece in pieces)
                    RemapPiece(piece, pfn, va, saved, haveTable ? table : default);
            }
            finally
            {
                if (haveTable)
                    table.Unlock();
            }

            return 0;
        }
        finally
        {
            // A split unlocked every piece as it remapped it.
            if (!split)
                Interlocked.And(ref head->Flags, ~(ulong)PageFlags.Locked);
        }
    }

    /// <summary><c>remap_page</c> for one new folio: its PTEs back (or the zero page), its rmap and references; freed when nothing maps it.</summary>
    private void RemapPiece(Folio piece, uint oldHead, ulong oldVa, Span<Pte> saved, PteTable table)
    {
        int pieceOrder = piece.Order;
        int first = (int)(piece.Pfn - oldHead);
        PageDescriptor* head = _pages + piece.Pfn;
        head->Flags &= ~(ulong)PageFlags.Locked;   // every piece inherited the old head's lock
        _mthp.Add(pieceOrder, MthpStatItem.NrAnon, 1);
        int mapped = 0;
        for (int i = 0; i < 1 << pieceOrder; i++)
        {
            Pte pte = saved[first + i];
            if (pte.IsNone)
                continue;
            ulong address = oldVa + ((ulong)(first + i) << PageGeometry.PageShift);
            if (pieceOrder == 0 && _machine.IsZeroFilled(piece.Pfn))
            {
                *table.At(address) = ZeroPte;
                _rss.Add(0, -1);
                _events.Count(VmEvent.ZeroPageRemap);
                continue;
            }

            *table.At(address) = pte;
            AnonRmap.AddPtes(head, pieceOrder, i, 1, _id);
            mapped++;
        }

        // The split left each piece one reference; the piece with the old head keeps it for the
        // caller, every other piece drops it for its mappings' references.
        bool callers = piece.Pfn == oldHead;
        head->Refcount = mapped + (callers ? 1 : 0);
        if (mapped > 0)
            DebugVm.CheckPteMappedFolio(_pages, piece.Pfn, pieceOrder, table.At(oldVa + ((ulong)first << PageGeometry.PageShift)), oldVa + ((ulong)first << PageGeometry.PageShift));
        if (head->Refcount == 0)
        {
            head->Refcount = 1;
            _machine.ReleaseFolio(piece, 1);
        }
    }

    /// <summary>An unmapped folio's rmap words, as a split expects them.</summary>
    private static void ResetRmap(PageDescriptor* head, int order)
    {
        int nr = 1 << order;
        for (int i = 0; i < nr; i++)
        {
            head[i].Mapcount = PageDescriptor.NoMapcount;
            head[i].Flags &= ~(ulong)PageFlags.AnonExclusive;
        }

        AnonRmap.ResetLargeCounts(head + 1);
    }

    /// <summary>Linux <c>folio_trylock</c>: PG_locked on the head, set atomically.</summary>
    private static bool TryLockFolio(PageDescriptor* head) =>
        (Interlocked.Or(ref head->Flags, (ulong)PageFlags.Locked) & (ulong)PageFlags.Locked) == 0;

    // ---------------------------------------------------------------- MADV_FREE

    /// <summary>
    /// Linux <c>madvise_free_pte_range</c> over [<paramref name="start"/>, <paramref name="end"/>) of
    /// an anonymous VMA. A PMD leaf covered whole is cleaned (<c>madvise_free_huge_pmd</c>: the
    /// leaf loses Dirty and Accessed, the folio its swap backing); covered in part, its folio is
    /// split to order 0 and the PTEs handled below. A large folio whose PTEs in the range are fewer
    /// than its pages is split to order 0 first, then every PTE of the range is cleaned and its
    /// folio marked lazily freeable (<c>folio_mark_lazyfree</c>). The zero page is skipped.
    /// </summary>
    private void MadviseFreeRange(ulong start, ulong end)
    {
        ulong address = start;
        while (address < end)
        {
            ulong pmdStart = VirtualAddress.PmdAlignDown(address);
            ulong next = Math.Min(pmdStart + VirtualAddress.PmdSize, end);
            Pte pmd = _tables.ReadPmd(address);
            if (pmd.IsLeafPmd)
            {
                if (pmd.IsSpecial)
                {
                    address = next;
                    continue;
                }

                uint headPfn = (uint)pmd.Pfn;
                if (next - address == VirtualAddress.PmdSize)
                {
                    if (_tables.TryReplacePmdLeaf(pmdStart, pmd, pmd.Without(PteFlags.Dirty | PteFlags.Accessed)))
                        MarkLazyFree(_pages + headPfn);
                    address = next;
                    continue;
                }

                SplitForMadviseFree(headPfn, PageGeometry.PmdOrder);
                pmd = _tables.ReadPmd(address);
            }

            if (pmd.IsTable && _tables.Walk(address, allocate: false, out PteTable table) == WalkResult.Table)
                MadviseFreePtes(table, address, next);
            address = next;
        }
    }

    private void MadviseFreePtes(PteTable table, ulong address, ulong end)
    {
        int count = (int)((end - address) >> PageGeometry.PageShift);
        table.Lock();
        Pte* slot = table.At(address);
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
                nr = FolioPteBatch(slot + i, count - i, pfn, headPfn, order);
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
        if (!_machine.TryGetReference(headPfn))
            return false;
        bool split = SplitMappedFolioLocked(_arena.HandleOf(headPfn, order), 0, uint.MaxValue) == 0;
        _machine.ReleaseFolioAt(headPfn, 1);
        return split;
    }

    /// <summary>Linux <c>folio_mark_lazyfree</c>: clean and no longer swap-backed, so reclaim may drop it.</summary>
    private static void MarkLazyFree(PageDescriptor* head) =>
        head->Flags &= ~(ulong)(PageFlags.SwapBacked | PageFlags.Dirty);
}
