using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The locked buddy core of an arena (Linux <c>struct zone</c> with one migratetype): a free list
/// per order threaded through the descriptors, <c>nr_free</c> per order, and a bitmap of the
/// non-empty orders so an allocation finds its order with one trailing-zero count.
/// </summary>
/// <remarks>
/// Methods named <c>...Locked</c> require <see cref="Lock"/> to be held (the kernel's <c>__</c>
/// prefix). Lock order: a per-CPU set's lock, then this lock; never the reverse.
/// <para>
/// A free block of order k at PFN p: p % 2^k == 0; page[p] has page type Buddy and Private == k;
/// its other descriptors are <see cref="PageDescriptor.Pristine"/>; its buddy p ^ 2^k is not a
/// free block of order k (they would have merged).
/// </para>
/// </remarks>
internal sealed unsafe class Zone
{
    private readonly PageDescriptor* _pages;
    private readonly int _maxOrder;
    private FreeAreaArray _freeArea;
    private ulong _nonEmptyOrders;
    private long _freePages;

    /// <summary>Protects the free lists, the counters and the descriptors of free blocks.</summary>
    public RawSpinLock Lock;

    /// <summary>Folios handed out straight from the buddy core, bypassing the per-CPU caches (under <see cref="Lock"/>).</summary>
    public long Allocations;

    /// <summary>Folios freed straight to the buddy core (under <see cref="Lock"/>).</summary>
    public long Frees;

    /// <summary>The owning arena's id, for the events written under the lock.</summary>
    public int ArenaId;

    public Zone(PageDescriptor* pages, long totalPages, int maxOrder)
    {
        _pages = pages;
        _maxOrder = maxOrder;
        for (int order = 0; order <= maxOrder; order++)
            _freeArea[order].List = PfnList.Empty;

        // memblock_free_all(): every max-order block enters free, lowest PFN first in the list.
        uint blockPages = 1u << maxOrder;
        for (long pfn = 0; pfn < totalPages; pfn += blockPages)
            AddToFreeListLocked((uint)pfn, maxOrder, toTail: true);
    }

    public int MaxOrder => _maxOrder;

    /// <summary>Pages on the free lists (racy read, as Linux's NR_FREE_PAGES).</summary>
    public long FreePages => Volatile.Read(ref _freePages);

    /// <summary>Free blocks of <paramref name="order"/> (racy read, as Linux reads nr_free for /proc/buddyinfo).</summary>
    public long NrFree(int order) => Volatile.Read(ref _freeArea[order].NrFree);

    internal ref readonly FreeArea FreeAreaOf(int order) => ref _freeArea[order];

    internal ulong NonEmptyOrders => _nonEmptyOrders;

    /// <summary>
    /// Takes a block of exactly <paramref name="order"/> (Linux <c>__rmqueue_smallest</c>): the
    /// smallest non-empty order at or above it, found with one trailing-zero count, then
    /// <see cref="ExpandLocked"/> hands the unused upper halves back one order at a time. The
    /// returned head is <see cref="PageDescriptor.Pristine"/>, as are its tails.
    /// </summary>
    /// <returns>The PFN, or <see cref="PageDescriptor.Nil"/> when no block is large enough.</returns>
    public uint RemoveSmallestLocked(int order)
    {
        Debug.Assert(Lock.IsHeld);
        ulong candidates = _nonEmptyOrders >> order;
        if (candidates == 0)
            return PageDescriptor.Nil;

        int current = order + BitOperations.TrailingZeroCount(candidates);
        uint pfn = _freeArea[current].List.Head;
        DeleteFromFreeListLocked(pfn, current);
        if (current != order)
        {
            ExpandLocked(pfn, order, current);
            if (AllocatorEventSource.IsOn)
                AllocatorEventSource.Log.BuddyBlockSplit(ArenaId, pfn, current, order);
        }

        return pfn;
    }

    /// <summary>
    /// Splits a block of order <paramref name="high"/> down to <paramref name="low"/>, freeing the
    /// upper half at each step (Linux <c>expand</c>): taking order 0 from an order-3 block frees
    /// [4..7] at order 2, [2..3] at order 1 and [1] at order 0.
    /// </summary>
    private void ExpandLocked(uint pfn, int low, int high)
    {
        uint size = 1u << high;
        while (high > low)
        {
            high--;
            size >>= 1;
            AddToFreeListLocked(pfn + size, high, toTail: false);
        }
    }

    /// <summary>
    /// Returns a block to the buddy core and merges it with its free buddies (Linux
    /// <c>__free_one_page</c>): while the block's buddy, <c>pfn ^ 2^order</c>, is a free block of
    /// the same order, unlink it and continue one order up from the pair's lower PFN. The caller
    /// has made every descriptor of the block <see cref="PageDescriptor.Pristine"/>.
    /// </summary>
    public void FreeOneLocked(uint pfn, int order)
    {
        Debug.Assert(Lock.IsHeld);
        Debug.Assert((pfn & ((1u << order) - 1)) == 0, "block not naturally aligned");
        Debug.Assert(_pages[pfn].Refcount == 0 && !_pages[pfn].IsTail && !_pages[pfn].HasPageType);

        uint buddyPfn = 0;
        int freedOrder = order;
        while (order < _maxOrder)
        {
            buddyPfn = pfn ^ (1u << order);
            if (!IsFreeBlockOfOrder(buddyPfn, order))
                break;
            DeleteFromFreeListLocked(buddyPfn, order);
            pfn &= buddyPfn;
            order++;
        }

        AddToFreeListLocked(pfn, order, toTail: BuddyMergeLikely(pfn, buddyPfn, order));
        if (order != freedOrder && AllocatorEventSource.IsOn)
            AllocatorEventSource.Log.BuddyBlockMerged(ArenaId, pfn, freedOrder, order);
    }

    /// <summary>
    /// Linux <c>buddy_merge_likely</c>: when the buddy of the next-higher block is already free,
    /// this block's own buddy may be freed soon; queue the block at the tail so it is not handed
    /// out first, and the pair can merge two orders up.
    /// </summary>
    private bool BuddyMergeLikely(uint pfn, uint buddyPfn, int order)
    {
        if (order >= _maxOrder - 1)
            return false;
        uint higher = buddyPfn & pfn;
        return IsFreeBlockOfOrder(higher ^ (1u << (order + 1)), order + 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsFreeBlockOfOrder(uint pfn, int order)
    {
        ref PageDescriptor page = ref _pages[pfn];
        return page.IsBuddy && page.Private == (ulong)order;
    }

    private void AddToFreeListLocked(uint pfn, int order, bool toTail)
    {
        ref PageDescriptor page = ref _pages[pfn];
        page.PageTypeWord = (uint)PageType.Buddy << 24;
        page.Private = (ulong)order;

        ref FreeArea area = ref _freeArea[order];
        if (toTail)
            area.List.AddTail(_pages, pfn);
        else
            area.List.AddHead(_pages, pfn);
        area.NrFree++;
        _nonEmptyOrders |= 1UL << order;
        _freePages += 1L << order;
    }

    private void DeleteFromFreeListLocked(uint pfn, int order)
    {
        ref FreeArea area = ref _freeArea[order];
        area.List.Remove(_pages, pfn);
        area.NrFree--;
        if (area.List.IsEmpty)
            _nonEmptyOrders &= ~(1UL << order);
        _freePages -= 1L << order;

        // __ClearPageBuddy + set_page_private(0), and no stale links: the head is pristine again.
        _pages[pfn] = PageDescriptor.Pristine;
    }
}
