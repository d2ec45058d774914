using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>Freeing and references: the free check and refcount freeze every free shares, Get and Put, the frozen free the layers above finish, and the release to a per-CPU cache or the buddy core.</summary>
public sealed unsafe partial class Arena
{
    /// <summary>
    /// Frees a folio the caller holds the only reference to. The folio must be unmapped, unpinned
    /// and off any deferred-split queue. It joins the calling CPU's cache when its order is cached,
    /// else the buddy core, where it merges with its free buddies.
    /// </summary>
    /// <exception cref="BadFolioException">Double free, tail page, wrong arena, stale order, still
    /// referenced, mapped, pinned or queued; the arena is unchanged.</exception>
    public void Free(Folio folio)
    {
        // The fast path: the cheap check, the refcount freeze, then the calling CPU's cache. A
        // handle that fails either goes to FreeSlow for the diagnosis.
        uint pfn = folio.Pfn;
        int order = folio.Order;
        if (folio.ArenaId == _id && _pages != null && TryFreeze(pfn, order))
        {
            ReleaseFrozen(pfn, order);
            return;
        }

        FreeSlow(folio);
    }

    /// <summary>
    /// The free decision every free but <see cref="Put"/>'s makes: the cheap check of the folio's
    /// state (<see cref="IsFreeable"/>), then the refcount freeze that commits it. False leaves the
    /// folio as it was, for <see cref="ThrowNotFreeable"/> to say why.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryFreeze(uint pfn, int order) =>
        IsFreeable(_pages + pfn, order) && TryFreezeRefcount(_pages + pfn);

    /// <summary>The end of every free once the refcount is frozen: the DEBUG_VM walk of the whole folio, then the block goes back.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ReleaseFrozen(uint pfn, int order)
    {
        DebugVm.CheckFolio(this, pfn, order, frozen: true);
        ReleaseBlock(pfn, order);
    }

    /// <summary><see cref="TryFreeze"/> and <see cref="ReleaseFrozen"/>, or the diagnosis.</summary>
    private void FreeOrThrow(uint pfn, int order)
    {
        // Only a racing Get or Put between a caller's check and this freeze fails it with a good
        // folio; the diagnosis then finds it still referenced.
        if (!TryFreeze(pfn, order))
            ThrowNotFreeable(pfn, order);
        ReleaseFrozen(pfn, order);
    }

    /// <summary>
    /// Linux <c>folio_ref_freeze(folio, 1)</c>: the commit point of every free and split. Only one
    /// of two threads racing to free the same folio gets past it; the other is told the folio is
    /// already free, and no list sees the block twice.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryFreezeRefcount(PageDescriptor* head) =>
        Interlocked.CompareExchange(ref head->Refcount, 0, 1) == 1;

    /// <summary>The frees the fast path declined: diagnoses bad handles, else frees through <see cref="FreeBlock"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FreeSlow(Folio folio)
    {
        if (folio.ArenaId != _id || _pages == null)
            ThrowForeignFolio(folio);
        FreeOrThrow(folio.Pfn, folio.Order);
    }

    /// <summary>Frees the folio whose head page is at <paramref name="address"/>.</summary>
    /// <exception cref="BadFolioException">The address is outside the arena, unaligned, a tail, or
    /// not a folio that can be freed; the arena is unchanged.</exception>
    public void Free(void* address)
    {
        uint pfn = AddressToPfn(address);
        if (((nuint)address & (PageGeometry.PageSize - 1)) != 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free address 0x{(nuint)address:x} (PFN 0x{pfn:x}): it is not page aligned; expected the address of a folio's head page.",
                BadFolioReason.NotPageAligned, pfn, -1);
        }

        FreeOrThrow(pfn, _pages[pfn].IsTail ? 0 : ActualOrder(pfn));
    }

    /// <summary>
    /// Takes another reference to a live folio (Linux <c>folio_try_get</c>: never resurrects a
    /// folio whose count already reached zero).
    /// </summary>
    public void Get(Folio folio)
    {
        if (folio.ArenaId != _id || _pages == null)
            ThrowForeignFolio(folio);
        PageDescriptor* head = _pages + folio.Pfn;
        if (head->IsTail || ActualOrder(folio.Pfn) != folio.Order || !TryGetReference(head))
            ThrowNotFreeable(folio.Pfn, folio.Order);
    }

    /// <summary>
    /// Linux <c>folio_try_get</c> on the folio headed at <paramref name="headPfn"/>, for the layers
    /// above that found it through a mapping and checked it: one more reference unless the count
    /// already reached zero, so a folio whose last reference is going is never revived.
    /// </summary>
    [LayerInterface]
    internal bool TryGetReference(uint headPfn) => TryGetReference(_pages + headPfn);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryGetReference(PageDescriptor* head)
    {
        while (true)
        {
            int refs = Volatile.Read(ref head->Refcount);
            if (refs <= 0)
                return false;
            if (Interlocked.CompareExchange(ref head->Refcount, refs + 1, refs) == refs)
                return true;
        }
    }

    /// <summary>The order of the folio headed at <paramref name="pfn"/>, read from its descriptors.</summary>
    private int ActualOrder(uint pfn) => _pages[pfn].IsHead ? _pages[pfn + 1].FolioOrder : 0;

    /// <summary>
    /// Drops a reference (Linux <c>folio_put</c>); the last one frees the folio, which must then be
    /// in a freeable state.
    /// </summary>
    /// <returns>True when this call freed the folio.</returns>
    public bool Put(Folio folio)
    {
        PageDescriptor* pages = _pages;
        if (folio.ArenaId != _id || pages == null)
            ThrowForeignFolio(folio);

        uint pfn = folio.Pfn;
        ref PageDescriptor head = ref pages[pfn];
        while (true)
        {
            int refs = Volatile.Read(ref head.Refcount);
            if (refs == 1)
            {
                // The last reference: check everything before giving it up, so a refused free
                // leaves the folio exactly as it was.
                if (!IsFreeable(pages + pfn, folio.Order))
                {
                    if (Volatile.Read(ref head.Refcount) != 1)
                        continue;   // a racing Get or Put: look again
                    ThrowNotFreeable(pfn, folio.Order);
                }

                if (!TryFreezeRefcount(pages + pfn))
                    continue;   // a racing Get: look again
                ReleaseFrozen(pfn, folio.Order);
                return true;
            }

            if (refs <= 0 || head.IsTail || ActualOrder(pfn) != folio.Order)
                ThrowNotFreeable(pfn, folio.Order);
            if (Interlocked.CompareExchange(ref head.Refcount, refs - 1, refs) == refs)
                return false;
        }
    }

    /// <summary>
    /// Linux <c>folio_put_refs</c> up to the test: drops <paramref name="refs"/> references at once
    /// (one per PTE an mTHP loses in a zap) with one atomic add.
    /// </summary>
    /// <returns>True when they were the last: the folio is then frozen (refcount 0), the caller owns
    /// it and must hand it to <see cref="FreeFrozen"/> once it has undone its own state (Linux
    /// <c>__folio_put</c>: unqueue from deferred split, uncharge, then free).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [LayerInterface]
    internal bool PutTestZero(Folio folio, int refs)
    {
        Debug.Assert(folio.ArenaId == _id && refs > 0, "PutTestZero on a foreign folio or with no references");
        int left = Interlocked.Add(ref _pages[folio.Pfn].Refcount, -refs);
        Debug.Assert(left >= 0, "folio refcount underflow");
        return left == 0;
    }

    /// <summary>
    /// Linux <c>free_frozen_pages</c> for a folio whose last reference <see cref="PutTestZero"/>
    /// dropped: the same checks as <see cref="Free(Folio)"/>, then the block goes back.
    /// </summary>
    /// <exception cref="BadFolioException">The folio is still mapped, pinned or queued; nothing changed.</exception>
    [LayerInterface]
    internal void FreeFrozen(Folio folio)
    {
        uint pfn = folio.Pfn;
        int order = folio.Order;
        if (folio.ArenaId != _id || _pages == null)
            ThrowForeignFolio(folio);
        if (!IsFreeable(_pages + pfn, order, refs: 0))
        {
            // The diagnosis reads the state as a live folio's: show it one reference.
            _pages[pfn].Refcount = 1;
            try
            {
                ThrowNotFreeable(pfn, order);
            }
            finally
            {
                _pages[pfn].Refcount = 0;
            }
        }

        ReleaseFrozen(pfn, order);
    }

    /// <summary>
    /// The cheap check before a free (Linux <c>page_expected_state</c>): one combined test of the
    /// head's and page[1]'s words, no branches per field. The detailed diagnosis runs only when it
    /// fails. Page[2] is read only for large-rmappable folios, the only ones a deferred-split queue
    /// takes (Linux <c>folio_unqueue_deferred_split</c> tests the same flag first), so freeing any
    /// other folio touches two cache lines, not three.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsFreeable(PageDescriptor* head, int order, ulong checkedFlags = FlagsCheckedAtFree, int refs = 1)
    {
        ulong expectedFlags = order > 0 ? (ulong)PageFlags.Head : 0;
        bool ok = (head->CompoundHead == 0) & (head->Refcount == refs) & (head->Mapcount == PageDescriptor.NoMapcount)
            & ((head->Flags & (checkedFlags | (ulong)PageFlags.Head)) == expectedFlags);
        if (order == 0)
            return ok;

        PageDescriptor* second = head + 1;
        ok &= (second->FolioOrder == order)
            & (second->EntireMapcount == -1) & (second->LargeMapcount == -1)
            & (second->NrPagesMapped == 0) & (second->Pincount == 0);
        if (order >= 2 && second->IsLargeRmappable)
            ok &= head[2].DeferredQueue == 0;
        return ok;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FreeBlockTraced(uint pfn, int order)
    {
        bool cached = FreeBlock(pfn, order);
        AllocatorEventSource.Log.FolioFreed(_id, pfn, order, CurrentCpu.Id & _perCpuMask, cached);
    }

    /// <summary><see cref="FreeBlock"/>, or its traced twin while a session listens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ReleaseBlock(uint pfn, int order)
    {
        if (AllocatorEventSource.IsOn)
        {
            FreeBlockTraced(pfn, order);
            return;
        }

        FreeBlock(pfn, order);
    }

    /// <summary>
    /// Releases a checked, frozen folio's block (Linux <c>free_frozen_pages</c>): to the calling
    /// CPU's cache with its compound layout kept, draining a batch when the cache reaches its high
    /// watermark; or, for uncached orders and a busy cache, to the buddy core. Every call it makes
    /// is its last act, so inlined into <see cref="Free(Folio)"/> it keeps that frame small.
    /// </summary>
    /// <returns>Whether the block joined a per-CPU list (the trace's <c>toPerCpuCache</c>).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool FreeBlock(uint pfn, int order)
    {
        if (((_perCpuOrders >> order) & 1) != 0)
        {
            PerCpuPages* pcp = _perCpu + (CurrentCpu.Id & _perCpuMask);
            if (pcp->Lock.TryEnter())
            {
                // Frozen under the lock: once it is on the list another thread may take it.
                CompoundPage.Freeze(_pages + pfn, order);
                pcp->Lists[order].AddHead(_pages, pfn);
                pcp->Count += 1 << order;
                pcp->Frees++;
                if (pcp->Count < pcp->High)
                {
                    pcp->Lock.Exit();
                    return true;
                }

                DrainAndUnlock(pcp, order);
                return true;
            }

            CurrentCpu.Forget();
        }

        FreeBlockToZone(pfn, order);
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FreeBlockToZone(uint pfn, int order)
    {
        PageDescriptor* head = _pages + pfn;
        CompoundPage.ClearTails(head, order);
        *head = PageDescriptor.Pristine;
        _zone.Lock.Enter();
        _zone.FreeOneLocked(pfn, order);
        _zone.Frees++;
        _zone.Lock.Exit();
    }
}
