using System;
using System.Diagnostics;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// Splitting a mapped folio (Linux <c>__folio_split</c>: lock, <c>can_split_folio</c>,
/// <c>unmap_folio</c>, freeze and unqueue, <c>__split_unmapped_folio</c>, <c>remap_page</c>), and
/// debugfs <c>split_huge_pages</c>.
/// </summary>
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

    /// <summary><see cref="SplitMappedFolioLocked"/> for a caller without the mmap lock (the shrinker).</summary>
    internal SplitOutcome SplitMappedFolio(Folio folio, int newOrder, uint splitAtPfn)
    {
        using AddressSpaceReadScope scope = _vmas.Lock.Read();

        // exit_mmap ran (under the write lock) while the caller held its reference: the folio is
        // mapped nowhere, and the tables are gone (Linux: folio_get_anon_vma fails, -EBUSY).
        if (_disposed)
        {
            _machine.CountSplitFailed(folio.Pfn, folio.Order, newOrder, FolioSplitRefusal.NotMapped);
            return SplitOutcome.Busy;
        }

        return SplitMappedFolioLocked(folio, newOrder, splitAtPfn);
    }

    /// <summary>
    /// Linux <c>__folio_split</c> of a folio this address space maps, the caller holding one
    /// reference and the mmap lock: an order the split may not make is refused (order 1 for
    /// anonymous memory, or not below the folio's: -EINVAL, not counted); a folio whose lock is taken
    /// is left (-EAGAIN); otherwise <see cref="SplitLockedFolio"/>. The caller's reference stays with
    /// the new folio holding the old head page.
    /// </summary>
    internal SplitOutcome SplitMappedFolioLocked(Folio folio, int newOrder, uint splitAtPfn)
    {
        PageDescriptor* head = _pages + folio.Pfn;
        if (newOrder >= folio.Order || newOrder == 1)
        {
            if (FaultPathEventSource.IsOn)
                FaultPathEventSource.Log.FolioSplitRefused(_arena.Id, folio.Pfn, folio.Order, newOrder, FolioSplitRefusal.InvalidOrder);
            return SplitOutcome.InvalidOrder;
        }

        if (!TryLockFolio(head))
            return SplitOutcome.Busy;
        SplitOutcome outcome = SplitLockedFolio(folio, newOrder, splitAtPfn);
        if (outcome != SplitOutcome.Split)
            UnlockFolio(head);   // a split unlocked every piece as it remapped it
        return outcome;
    }

    /// <summary>
    /// The split of a locked folio, in Linux's steps:
    /// <list type="number">
    /// <item><c>can_split_folio</c>: refcount == mapcount + the caller's one, and something maps it
    /// (<c>folio_get_anon_vma</c>), else <c>split_failed</c>;</item>
    /// <item><c>unmap_folio</c>: a PMD mapping is split into PTEs (TTU_SPLIT_HUGE_PMD), then the
    /// folio's PTEs are taken out under the PTE table lock, which is held to the end (Linux leaves
    /// migration entries instead);</item>
    /// <item>freeze the refcount and leave the deferred-split queue (<see cref="FreezeAndUnqueue"/>);
    /// a lost race puts the PTEs back untouched;</item>
    /// <item><c>__split_unmapped_folio</c> in the arena, uniform or non-uniform at
    /// <paramref name="splitAtPfn"/>, with <c>split</c> and <c>nr_anon</c> counted;</item>
    /// <item><c>remap_page</c> with RMP_USE_SHARED_ZEROPAGE, piece by piece (<see cref="RemapPiece"/>).</item>
    /// </list>
    /// </summary>
    private SplitOutcome SplitLockedFolio(Folio folio, int newOrder, uint splitAtPfn)
    {
        uint pfn = folio.Pfn;
        int order = folio.Order;
        PageDescriptor* head = _pages + pfn;

        // can_split_folio (racy, as in Linux: the freeze below decides), and folio_get_anon_vma:
        // a folio nothing maps any more cannot be split (-EBUSY).
        int mapcount = AnonRmap.Mapcount(head, order);
        if (mapcount == 0 || Volatile.Read(ref head->Refcount) != mapcount + 1)
        {
            _machine.CountSplitFailed(pfn, order, newOrder, mapcount == 0 ? FolioSplitRefusal.NotMapped : FolioSplitRefusal.ExtraReferences);
            return SplitOutcome.Busy;
        }

        ulong va = head->Index << PageGeometry.PageShift;
        bool pmdMapped = order >= PageGeometry.PmdOrder && head[1].EntireMapcount >= 0;
        if (!pmdMapped && head[1].NrPagesMapped >= 2)
        {
            // unmap_folio takes a PTE-mapped folio's PTEs out one at a time (try_to_migrate_one):
            // once the first page has lost its mapping and another still has one,
            // __folio_remove_rmap finds it partially mapped and queues it (split_deferred), and the
            // freeze below takes it off the queue again. A PMD mapping is frozen whole instead.
            _machine.DeferredSplitQueue.Queue(pfn, order, partiallyMapped: true);
        }

        if (pmdMapped)
        {
            if (SplitHugePmd(va) == PmdSplitResult.OutOfMemory)
            {
                _machine.CountSplitFailed(pfn, order, newOrder, FolioSplitRefusal.NoMemory);
                return SplitOutcome.Busy;
            }

            mapcount = AnonRmap.Mapcount(head, order);
        }

        bool haveTable = _tables.Walk(va, allocate: false, out PteTable table) == WalkResult.Table;
        Debug.Assert(haveTable, "a mapped folio with no PTE table over it");
        if (haveTable)
            table.Lock();
        try
        {
            Span<Pte> saved = stackalloc Pte[1 << order];
            int unmapped = haveTable ? UnmapFolioLocked(table, pfn, va, saved) : 0;
            Debug.Assert(unmapped == mapcount, "a folio mapped outside its own PTE range");
            if (!FreezeAndUnqueue(head, pfn, order, unmapped))
            {
                RestorePtesLocked(table, va, saved);
                _machine.CountSplitFailed(pfn, order, newOrder, FolioSplitRefusal.Frozen);
                return SplitOutcome.Busy;
            }

            ResetRmap(head, order);
            head->Refcount = 1;   // the arena's split takes the folio with one reference
            FolioRange pieces = splitAtPfn == uint.MaxValue
                ? _arena.SplitUniform(folio, newOrder)
                : _arena.SplitNonUniform(folio, newOrder, splitAtPfn);
            _machine.CountSplit(order, failed: false);
            _mthp.Add(order, MthpStatItem.NrAnon, -1);
            foreach (Folio piece in pieces)
                RemapPiece(piece, pfn, va, saved, table);
            return SplitOutcome.Split;
        }
        finally
        {
            if (haveTable)
                table.Unlock();
        }
    }

    /// <summary>
    /// <c>unmap_folio</c> for a PTE-mapped folio, the PTE table locked: every PTE that maps a page of
    /// the folio at its own address is cleared and kept in <paramref name="saved"/> (the rest none).
    /// </summary>
    /// <returns>How many PTEs were taken out.</returns>
    private static int UnmapFolioLocked(PteTable table, uint pfn, ulong va, Span<Pte> saved)
    {
        saved.Clear();
        Pte* slot = table.Slot(va);
        int unmapped = 0;
        for (int i = 0; i < saved.Length; i++)
        {
            Pte pte = slot[i];
            if (pte.IsPresent && !pte.IsSpecial && pte.Pfn == pfn + (ulong)i)
            {
                saved[i] = pte;
                slot[i] = Pte.None;
                unmapped++;
            }
        }

        return unmapped;
    }

    /// <summary>The split did not happen: the PTEs <see cref="UnmapFolioLocked"/> took out go back as they were.</summary>
    private static void RestorePtesLocked(PteTable table, ulong va, ReadOnlySpan<Pte> saved)
    {
        Pte* slot = table.Slot(va);
        for (int i = 0; i < saved.Length; i++)
        {
            if (!saved[i].IsNone)
                slot[i] = saved[i];
        }
    }

    /// <summary>
    /// <c>folio_ref_freeze(folio, 1 + mappings)</c> under the deferred-split queue's lock, where the
    /// shrinker takes its references, and off the queue: a reference taken since
    /// <c>can_split_folio</c> (a scan, another split) makes the freeze fail.
    /// </summary>
    /// <returns>False when the freeze failed: nothing changed.</returns>
    private bool FreezeAndUnqueue(PageDescriptor* head, uint pfn, int order, int mappings)
    {
        DeferredSplitQueue queue = _machine.DeferredSplitQueue;
        queue.Lock.Enter();
        bool frozen = Interlocked.CompareExchange(ref head->Refcount, 0, mappings + 1) == mappings + 1;
        if (frozen)
            queue.UnqueueLocked(pfn, order);
        queue.Lock.Exit();
        return frozen;
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
            if (pieceOrder == 0 && _machine.Contents.IsZeroFilled(piece.Pfn))
            {
                *table.Slot(address) = ZeroPte;
                _rss.Add(0, -1);
                _events.Count(VmEvent.ZeroPageRemap);
                continue;
            }

            *table.Slot(address) = pte;
            AnonRmap.AddPtes(head, pieceOrder, i, 1, _id);
            mapped++;
        }

        // The split left each piece one reference; the piece with the old head keeps it for the
        // caller, every other piece drops it for its mappings' references.
        bool callers = piece.Pfn == oldHead;
        head->Refcount = mapped + (callers ? 1 : 0);
        if (mapped > 0)
            DebugVm.CheckPteMappedFolio(_pages, piece.Pfn, pieceOrder, table.Slot(oldVa + ((ulong)first << PageGeometry.PageShift)), oldVa + ((ulong)first << PageGeometry.PageShift));
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

    /// <summary>Linux <c>folio_unlock</c>.</summary>
    private static void UnlockFolio(PageDescriptor* head) =>
        Interlocked.And(ref head->Flags, ~(ulong)PageFlags.Locked);
}
