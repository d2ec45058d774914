using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>Allocation: the per-CPU fast path, then the generic slow path (refill, the buddy core, the drain before failing).</summary>
public sealed unsafe partial class Arena
{
    /// <summary>Allocates a folio of 2^<paramref name="order"/> pages, naturally aligned.</summary>
    /// <exception cref="OutOfMemoryException">No block of that order is free.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The order is outside 0..<see cref="MaxOrder"/>.</exception>
    /// <exception cref="OrderOneFolioException">An anonymous folio of order 1 was asked for.</exception>
    public Folio Allocate(int order, FolioKind kind = FolioKind.Plain)
    {
        uint pfn = TakeCachedBlock(order, kind);
        if (pfn == PageDescriptor.Nil)
            return AllocateSlow(order, kind, throwWhenOutOfMemory: true);
        if (AllocatorEventSource.IsOn)
            return HandOutTraced(pfn, order, kind, fromCache: true);
        return HandOut(pfn, order, kind);
    }

    /// <summary>Allocates a plain folio of 2^<paramref name="order"/> pages, or reports that none is free.</summary>
    /// <returns>False when the arena has no free block of that order, even after draining every
    /// per-CPU cache (Linux's <c>drain_all_pages</c> before it gives up).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The order is outside 0..<see cref="MaxOrder"/>.</exception>
    public bool TryAllocate(int order, out Folio folio) => TryAllocate(order, FolioKind.Plain, out folio);

    /// <summary>Allocates a folio of 2^<paramref name="order"/> pages of <paramref name="kind"/>, or reports that none is free.</summary>
    /// <returns>False when the arena has no free block of that order, even after draining every
    /// per-CPU cache (Linux's <c>drain_all_pages</c> before it gives up).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The order is outside 0..<see cref="MaxOrder"/>.</exception>
    /// <exception cref="OrderOneFolioException">An anonymous folio of order 1 was asked for.</exception>
    public bool TryAllocate(int order, FolioKind kind, out Folio folio)
    {
        uint pfn = TakeCachedBlock(order, kind);
        if (pfn == PageDescriptor.Nil)
        {
            folio = AllocateSlow(order, kind, throwWhenOutOfMemory: false);
            return !folio.IsNull;
        }

        folio = AllocatorEventSource.IsOn ? HandOutTraced(pfn, order, kind, fromCache: true) : HandOut(pfn, order, kind);
        return true;
    }

    /// <summary>Thaws a frozen block into a live folio of <paramref name="kind"/> and names it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Folio HandOut(uint pfn, int order, FolioKind kind)
    {
        CompoundPage.Thaw(_pages + pfn, order, kind);
        DebugVm.CheckFolio(this, pfn, order);
        return new Folio(_id, pfn, order);
    }

    // The fast paths test IsOn once, where their arguments are live anyway, and take these out-of-
    // line twins when a session listens: past the test, the untraced path is the code of a build
    // without events (the JIT lays out the same frame), and the traced one writes its event last.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Folio HandOutTraced(uint pfn, int order, FolioKind kind, bool fromCache)
    {
        Folio folio = HandOut(pfn, order, kind);
        AllocatorEventSource.Log.FolioAllocated(_id, pfn, order, CurrentCpu.Id & _perCpuMask, fromCache);
        return folio;
    }

    /// <summary>
    /// The allocation fast path: a block from the calling CPU's cache. Cost: the CPU lookup (one
    /// load), one try-lock and a list pop. It makes no call, so its callers keep a small frame; every other
    /// case (a bad argument, a disposed arena, an uncached order, a busy or empty cache) answers
    /// <see cref="PageDescriptor.Nil"/> and <see cref="AllocateSlow"/> sorts it out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint TakeCachedBlock(int order, FolioKind kind)
    {
        if (_pages == null || (uint)order > (uint)_maxOrder || ((_perCpuOrders >> order) & 1) == 0
            || (kind == FolioKind.Anonymous & order == 1))
        {
            return PageDescriptor.Nil;
        }

        PerCpuPages* pcp = _perCpu + (CurrentCpu.Id & _perCpuMask);
        if (!pcp->Lock.TryEnter())
            return PageDescriptor.Nil;

        uint pfn = pcp->Lists[order].IsEmpty ? PageDescriptor.Nil : PopCachedLocked(pcp, order);
        if (--pcp->TakesUntilCpuCheck == 0)
        {
            pcp->TakesUntilCpuCheck = PerCpuPages.CpuCheckInterval;
            CurrentCpu.Forget();
        }

        pcp->Lock.Exit();
        return pfn;
    }

    /// <summary>Takes the hottest block of <paramref name="order"/> from a non-empty per-CPU list whose lock the caller holds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint PopCachedLocked(PerCpuPages* pcp, int order)
    {
        uint pfn = pcp->Lists[order].RemoveHead(_pages);
        pcp->Count -= 1 << order;
        pcp->Allocations++;
        Debug.Assert(order == 0 || _pages[pfn + 1].FolioOrder == order, "cached block lost its compound layout");
        return pfn;
    }

    /// <summary>
    /// Every allocation the fast path declined (Linux <c>rmqueue</c> beyond the pcp hit): checks
    /// the arguments, then takes a block from the CPU's cache (refilling it from the buddy core
    /// when empty), or from the buddy core when the order is not cached or the cache is busy, or
    /// from the buddy core after every cache is drained.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Folio AllocateSlow(int order, FolioKind kind, bool throwWhenOutOfMemory)
    {
        PageDescriptor* pages = _pages;
        if (pages == null)
            ThrowHelper.ThrowObjectDisposed();
        if ((uint)order > (uint)_maxOrder || (kind == FolioKind.Anonymous & order == 1))
            ThrowHelper.ThrowBadOrder(order, _maxOrder, kind);

        uint pfn;
        bool fromCache = false;
        if (((_perCpuOrders >> order) & 1) != 0)
        {
            PerCpuPages* pcp = _perCpu + (CurrentCpu.Id & _perCpuMask);
            if (pcp->Lock.TryEnter())
            {
                if (pcp->Lists[order].IsEmpty)
                {
                    pfn = RefillAndAllocate(pcp, order);
                }
                else
                {
                    pfn = PopCachedLocked(pcp, order);
                    pcp->Lock.Exit();
                    fromCache = true;
                }
            }
            else
            {
                CurrentCpu.Forget();
                pfn = AllocateBlockFromZone(order);
            }
        }
        else
        {
            pfn = AllocateBlockFromZone(order);
        }

        if (pfn == PageDescriptor.Nil)
        {
            if (AllocatorEventSource.IsOn)
                AllocatorEventSource.Log.AllocationFailed(_id, order, _zone.FreePages);
            return throwWhenOutOfMemory ? ThrowHelper.ThrowOutOfMemory(order) : default;
        }

        return AllocatorEventSource.IsOn ? HandOutTraced(pfn, order, kind, fromCache) : HandOut(pfn, order, kind);
    }

    /// <summary>
    /// The per-CPU list of <paramref name="order"/> is empty: move a batch of blocks from the
    /// buddy core onto it (Linux <c>rmqueue_bulk</c>, <c>nr_pcp_alloc</c>: batch / 2^order
    /// blocks, at least two, but no more than fit below high) and return the first. Called with
    /// the set's lock held; releases it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private uint RefillAndAllocate(PerCpuPages* pcp, int order)
    {
        // Linux takes batch / 2^order blocks, at least two, and bounds only order 0 by the room
        // left below high. Bounding every order keeps a refill of large blocks from overshooting
        // high, which would make the next free drain what the refill just stamped.
        int wanted = pcp->Batch > 1 ? Math.Max(pcp->Batch >> order, 2) : 1;
        int room = Math.Max((pcp->High - pcp->Count) >> order, 1);
        wanted = Math.Min(Math.Min(wanted, room), MaxBlocksPerBatch);
        uint* blocks = stackalloc uint[MaxBlocksPerBatch];
        int taken = 0;

        _zone.Lock.Enter();
        while (taken < wanted)
        {
            uint pfn = _zone.RemoveSmallestLocked(order);
            if (pfn == PageDescriptor.Nil)
                break;
            blocks[taken++] = pfn;
        }

        _zone.Lock.Exit();

        // The tails are stamped outside the zone lock: the blocks are this set's alone now.
        ref PfnList list = ref pcp->Lists[order];
        for (int i = 1; i < taken; i++)
        {
            CompoundPage.PrepFrozen(_pages + blocks[i], blocks[i], order);
            list.AddTail(_pages, blocks[i]);
        }

        if (taken > 1)
            pcp->Count += (taken - 1) << order;
        if (taken > 0)
            pcp->Allocations++;
        DebugVm.CheckPerCpuSetLocked(this, pcp);
        pcp->Lock.Exit();

        if (taken == 0)
            return AllocateBlockAfterDrain(order);
        if (AllocatorEventSource.IsOn)
            AllocatorEventSource.Log.PerCpuRefill(_id, CurrentCpu.Id & _perCpuMask, order, taken);

        CompoundPage.PrepFrozen(_pages + blocks[0], blocks[0], order);
        return blocks[0];
    }

    /// <summary>The buddy core directly: for uncached orders and when the CPU's set is busy.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private uint AllocateBlockFromZone(int order)
    {
        uint pfn = TakeFromZone(order);
        return pfn != PageDescriptor.Nil ? pfn : AllocateBlockAfterDrain(order);
    }

    /// <summary>One block from the buddy core, made a frozen folio outside the zone lock; <see cref="PageDescriptor.Nil"/> if none.</summary>
    private uint TakeFromZone(int order)
    {
        _zone.Lock.Enter();
        uint pfn = _zone.RemoveSmallestLocked(order);
        if (pfn != PageDescriptor.Nil)
            _zone.Allocations++;
        _zone.Lock.Exit();
        if (pfn != PageDescriptor.Nil)
            CompoundPage.PrepFrozen(_pages + pfn, pfn, order);
        return pfn;
    }

    /// <summary>
    /// The buddy core had nothing: pages may sit in other CPUs' caches, so drain them all and try
    /// once more (Linux drains every CPU's lists before an allocation is allowed to fail). The
    /// drain takes every set's lock even when the sets look empty: a refill or drain that another
    /// thread has under way holds blocks that are in no list until its lock is released.
    /// </summary>
    private uint AllocateBlockAfterDrain(int order)
    {
        DrainPerCpuCaches();
        return TakeFromZone(order);
    }
}
