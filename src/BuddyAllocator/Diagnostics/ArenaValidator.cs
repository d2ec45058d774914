using System;
using System.Runtime.CompilerServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The whole-arena walk behind <see cref="Arena.Validate"/>, and the per-folio and per-CPU-set
/// checks that DEBUG_VM runs on every operation. Every invariant written on
/// <see cref="PageDescriptor"/>, <see cref="Zone"/> and <see cref="PerCpuPages"/> is checked here.
/// </summary>
/// <remarks>
/// The walk claims each page for exactly one owner: a free block in the buddy core, a block in a
/// per-CPU cache, or a live folio. A page claimed twice is an overlap; a page claimed by none, a
/// leak. Then free + cached + live == total.
/// </remarks>
internal static unsafe class ArenaValidator
{
    private const byte Unclaimed = 0;
    private const byte BuddyFree = 1;
    private const byte Cached = 2;
    private const byte Live = 3;

    public static void Validate(Arena arena)
    {
        PerCpuPages* perCpu = arena.PerCpu;
        int sets = arena.PerCpuSetCount;
        for (int cpu = 0; cpu < sets; cpu++)
            perCpu[cpu].Lock.Enter();
        arena.Zone.Lock.Enter();
        try
        {
            var owners = new byte[arena.TotalPages];
            long free = CheckZone(arena, owners);
            long cached = 0;
            for (int cpu = 0; cpu < sets; cpu++)
                cached += CheckPerCpuSet(arena, perCpu + cpu, owners);
            long live = CheckAllLiveFolios(arena, owners);
            if (free + cached + live != arena.TotalPages)
            {
                Fail(-1, $"free {free} + cached {cached} + live {live} pages = {free + cached + live}; expected the arena's {arena.TotalPages} pages");
            }
        }
        finally
        {
            arena.Zone.Lock.Exit();
            for (int cpu = sets - 1; cpu >= 0; cpu--)
                perCpu[cpu].Lock.Exit();
        }
    }

    /// <summary>The buddy core: each free list against its descriptors, nr_free, the order bitmap, merging.</summary>
    private static long CheckZone(Arena arena, byte[] owners)
    {
        Zone zone = arena.Zone;
        PageDescriptor* pages = arena.Pages;
        long freePages = 0;
        for (int order = 0; order <= arena.MaxOrder; order++)
        {
            ref readonly FreeArea area = ref zone.FreeAreaOf(order);
            long count = 0;
            uint prev = PageDescriptor.Nil;
            for (uint pfn = area.List.Head; pfn != PageDescriptor.Nil; pfn = pages[pfn].ListNext)
            {
                CheckBlockBounds(arena, pfn, order, "free list");
                ref PageDescriptor head = ref pages[pfn];
                if (head.ListPrev != prev)
                    Fail(pfn, $"free list of order {order}: back link 0x{head.ListPrev:x}; expected 0x{prev:x}");
                if (!head.IsBuddy || head.Private != (ulong)order)
                    Fail(pfn, $"on the order-{order} free list but page type word 0x{head.PageTypeWord:x8}, private {head.Private}; expected Buddy and {order}");
                if (head.Refcount != 0 || head.CompoundHead != 0 || head.Flags != 0 || head.Mapping != 0)
                    Fail(pfn, $"free block head has refcount {head.Refcount}, compound head 0x{head.CompoundHead:x}, flags 0x{head.Flags:x}, mapping 0x{head.Mapping:x}; expected all zero");

                Claim(owners, pfn, order, BuddyFree, "free block");
                for (uint i = 1; i < 1u << order; i++)
                {
                    if (!IsPristine(ref pages[pfn + i]))
                        Fail(pfn + i, $"page {i} of the free order-{order} block at 0x{pfn:x} is not pristine");
                }

                if (order < arena.MaxOrder)
                {
                    uint buddy = pfn ^ (1u << order);
                    if (pages[buddy].IsBuddy && pages[buddy].Private == (ulong)order)
                        Fail(pfn, $"free order-{order} block and its buddy 0x{buddy:x} are both free; expected them merged");
                }

                prev = pfn;
                count++;
                freePages += 1L << order;
            }

            if (area.List.Tail != prev)
                Fail(prev, $"free list of order {order} ends at 0x{prev:x} but its tail is 0x{area.List.Tail:x}");
            if (count != area.NrFree)
                Fail(-1, $"free list of order {order} holds {count} blocks; nr_free says {area.NrFree}");
            if (((zone.NonEmptyOrders >> order) & 1) != (count > 0 ? 1UL : 0UL))
                Fail(-1, $"non-empty-orders bitmap bit {order} is {(zone.NonEmptyOrders >> order) & 1}; the list holds {count} blocks");
        }

        if (zone.NonEmptyOrders >> (arena.MaxOrder + 1) != 0)
            Fail(-1, $"non-empty-orders bitmap 0x{zone.NonEmptyOrders:x} has bits above max order {arena.MaxOrder}");
        if (freePages != zone.FreePages)
            Fail(-1, $"free lists hold {freePages} pages; the zone counts {zone.FreePages}");
        return freePages;
    }

    /// <summary>One per-CPU set: its lists hold frozen compound blocks of cached orders, and Count sums them.</summary>
    public static long CheckPerCpuSet(Arena arena, PerCpuPages* pcp, byte[]? owners)
    {
        PageDescriptor* pages = arena.Pages;
        long total = 0;
        for (int order = 0; order <= PageGeometry.PmdOrder; order++)
        {
            ref PfnList list = ref pcp->Lists[order];
            if (!list.IsEmpty && ((arena.PerCpuOrders >> order) & 1) == 0)
                Fail(list.Head, $"per-CPU list of order {order} is not empty, but the order is not cached");

            uint prev = PageDescriptor.Nil;
            long guard = 0;
            for (uint pfn = list.Head; pfn != PageDescriptor.Nil; pfn = pages[pfn].ListNext)
            {
                if (++guard > arena.TotalPages)
                    Fail(pfn, $"per-CPU list of order {order} has a cycle");
                CheckBlockBounds(arena, pfn, order, "per-CPU list");
                ref PageDescriptor head = ref pages[pfn];
                if (head.ListPrev != prev)
                    Fail(pfn, $"per-CPU list of order {order}: back link 0x{head.ListPrev:x}; expected 0x{prev:x}");
                if (head.Refcount != 0 || head.IsTail || head.Mapcount != PageDescriptor.NoMapcount || head.IsHead != (order > 0))
                    Fail(pfn, $"cached order-{order} block head has refcount {head.Refcount}, compound head 0x{head.CompoundHead:x}, mapcount word 0x{head.PageTypeWord:x8}, flags 0x{head.Flags:x}; expected a frozen head");
                if (head.Mapping != 0 || head.Index != 0 || head.Private != 0)
                    Fail(pfn, $"cached order-{order} block head keeps owner words (mapping 0x{head.Mapping:x}, index {head.Index}, private {head.Private}); expected them cleared");

                if (order > 0)
                {
                    // Thaw rewrites only the flags and mm ids of page[1]: everything else, page[2]
                    // included, must already be as prep_compound_head leaves it.
                    ref PageDescriptor second = ref pages[pfn + 1];
                    if (second.FolioOrder != order || second.NrPages != 1u << order || second.LargeMapcount != -1
                        || second.EntireMapcount != -1 || second.NrPagesMapped != 0 || second.Pincount != 0)
                    {
                        Fail(pfn + 1, $"cached order-{order} block's page[1] holds order {second.FolioOrder}, nr_pages {second.NrPages}, mapcounts {second.LargeMapcount}/{second.EntireMapcount}/{second.NrPagesMapped}, pincount {second.Pincount}; expected a freshly prepared folio");
                    }

                    if (order >= 2)
                    {
                        ref PageDescriptor third = ref pages[pfn + 2];
                        if (third.DeferredQueue != 0 || third.DeferredNext != pfn || third.DeferredPrev != pfn)
                            Fail(pfn + 2, $"cached order-{order} block's page[2] deferred list is 0x{third.DeferredNext:x}/0x{third.DeferredPrev:x} on queue {third.DeferredQueue}; expected empty (0x{pfn:x}) and on no queue");
                    }
                }

                ulong tag = PageDescriptor.TailTag(pfn);
                for (uint i = 1; i < 1u << order; i++)
                {
                    ref PageDescriptor tail = ref pages[pfn + i];
                    if (tail.CompoundHead != tag || tail.Refcount != 0 || (i >= 3 && tail.Mapping != PageDescriptor.TailMapping))
                        Fail(pfn + i, $"tail {i} of cached order-{order} block 0x{pfn:x} has compound head 0x{tail.CompoundHead:x}, refcount {tail.Refcount}, mapping 0x{tail.Mapping:x}; expected 0x{tag:x}, 0 and TAIL_MAPPING");
                }

                if (owners != null)
                    Claim(owners, pfn, order, Cached, "per-CPU cached block");
                if (list.Tail == pfn && head.ListNext != PageDescriptor.Nil)
                    Fail(pfn, "per-CPU list tail has a successor");
                prev = pfn;
                total += 1L << order;
            }

            if (list.Tail != prev)
                Fail(prev, $"per-CPU list of order {order} ends at 0x{prev:x} but its tail is 0x{list.Tail:x}");
        }

        if (total != pcp->Count)
            Fail(-1, $"per-CPU lists hold {total} pages; their count says {pcp->Count}");
        return total;
    }

    /// <summary>Every page not free or cached must belong to a live folio whose head is reached by stepping folio by folio.</summary>
    private static long CheckAllLiveFolios(Arena arena, byte[] owners)
    {
        long live = 0;
        long pfn = 0;
        while (pfn < arena.TotalPages)
        {
            if (owners[pfn] != Unclaimed)
            {
                pfn++;
                continue;
            }

            int order = CheckLiveFolio(arena, (uint)pfn, -1, owners);
            live += 1L << order;
            pfn += 1L << order;
        }

        return live;
    }

    /// <summary>
    /// One live folio's layout: the head, page[1] and page[2] words, and every tail pointing at
    /// the head. Returns the folio's order.
    /// </summary>
    public static int CheckLiveFolio(Arena arena, uint pfn, int expectedOrder, byte[]? owners, bool frozen = false)
    {
        PageDescriptor* pages = arena.Pages;
        ref PageDescriptor head = ref pages[pfn];
        if (head.IsTail)
            Fail(pfn, $"reached a tail page (of 0x{head.HeadPfn:x}) where a folio head was expected: overlapping or leaked folio");
        // A live page may carry a type its owner gave it (PGTY_table for a page-table page, as
        // Linux's pagetable_alloc sets), which overlays the mapcount: never Buddy, which only
        // the buddy core's free blocks carry, and only on an order-0 page here.
        if (head.HasPageType && (head.IsBuddy || head.IsHead))
            Fail(pfn, $"page type word 0x{head.PageTypeWord:x8} on a live {(head.IsHead ? "large folio" : "page")}; expected a type only on an order-0 page, and never Buddy");
        if (frozen ? head.Refcount != 0 : head.Refcount < 1)
            Fail(pfn, $"refcount {head.Refcount} on a page that is neither free nor cached: leaked page");
        if (!head.HasPageType && head.Mapcount < -1)
            Fail(pfn, $"mapcount {head.Mapcount}; expected -1 or more");

        if (head.IsHead && pfn + 1L >= arena.TotalPages)
            Fail(pfn, "head flag on the arena's last page, which has no page[1]");
        int order = head.IsHead ? pages[pfn + 1].FolioOrder : 0;
        if (expectedOrder >= 0 && order != expectedOrder)
            Fail(pfn, $"folio has order {order}; expected {expectedOrder}");
        if (order > arena.MaxOrder || (head.IsHead && order == 0))
            Fail(pfn, $"head flag {head.IsHead} with order {order}; expected 1..{arena.MaxOrder} on a head");
        CheckBlockBounds(arena, pfn, order, "live folio");

        bool anon = (head.Mapping & PageDescriptor.MappingAnon) != 0;
        if (anon && order == 1)
            Fail(pfn, "anonymous folio of order 1: its page[2] is the next folio's head");

        if (order >= 1)
        {
            ref PageDescriptor second = ref pages[pfn + 1];
            if (second.NrPages != 1u << order)
                Fail(pfn + 1, $"page[1] nr_pages {second.NrPages}; expected {1u << order}");
            // Besides the folio's bits, page[1]'s word holds that page's own per-page flags; the
            // only one a mapped page sets is PG_anon_exclusive.
            if ((second.Flags & ~((ulong)FolioFlags.SecondPageMask | (ulong)PageFlags.AnonExclusive)) != 0)
                Fail(pfn + 1, $"page[1] flags 0x{second.Flags:x} has bits outside the order and folio flags");
            if (anon && order >= 2 && (second.Flags & (ulong)FolioFlags.LargeRmappable) == 0)
                Fail(pfn + 1, "anonymous large folio is not large-rmappable");
            // nr_pages_mapped: pages mapped by PTEs, plus ENTIRELY_MAPPED (bit 23) per PMD mapping.
            const int EntirelyMapped = 0x800000;
            if (second.EntireMapcount < -1 || second.LargeMapcount < -1 || second.NrPagesMapped < 0
                || (second.NrPagesMapped & (EntirelyMapped - 1)) > 1 << order || second.Pincount < 0)
            {
                Fail(pfn + 1, $"page[1] entire_mapcount {second.EntireMapcount}, large_mapcount {second.LargeMapcount}, nr_pages_mapped {second.NrPagesMapped}, pincount {second.Pincount} out of range");
            }
        }

        if (order >= 2)
        {
            ref PageDescriptor third = ref pages[pfn + 2];
            bool queued = third.DeferredQueue != 0;
            if (!queued && (third.DeferredNext != pfn || third.DeferredPrev != pfn))
                Fail(pfn + 2, $"page[2] deferred list 0x{third.DeferredNext:x}/0x{third.DeferredPrev:x} is neither empty (0x{pfn:x}) nor on a queue");
            if (queued && !pages[pfn + 1].IsLargeRmappable)
                Fail(pfn + 2, $"folio is on deferred-split queue {third.DeferredQueue} but not large-rmappable; only rmappable folios are queued");
        }

        ulong tag = PageDescriptor.TailTag(pfn);
        for (uint i = 1; i < 1u << order; i++)
        {
            ref PageDescriptor tail = ref pages[pfn + i];
            if (tail.CompoundHead != tag)
                Fail(pfn + i, $"tail {i} of folio 0x{pfn:x} order {order} has compound head 0x{tail.CompoundHead:x}; expected 0x{tag:x}");
            if (tail.Refcount != 0)
                Fail(pfn + i, $"tail {i} of folio 0x{pfn:x} has refcount {tail.Refcount}; expected 0");
            if (tail.Mapcount < -1)
                Fail(pfn + i, $"tail {i} of folio 0x{pfn:x} has mapcount {tail.Mapcount}");
            if (i >= 3 && (tail.Mapping != PageDescriptor.TailMapping || tail.Private != 0))
                Fail(pfn + i, $"tail {i} of folio 0x{pfn:x} has mapping 0x{tail.Mapping:x}, private {tail.Private}; expected TAIL_MAPPING and 0");
        }

        if (owners != null)
            Claim(owners, pfn, order, Live, "live folio");
        return order;
    }

    private static void CheckBlockBounds(Arena arena, uint pfn, int order, string what)
    {
        if (pfn >= arena.TotalPages || pfn + (1L << order) > arena.TotalPages)
            Fail(pfn, $"{what}: order-{order} block at 0x{pfn:x} runs past the arena's {arena.TotalPages} pages");
        if ((pfn & ((1u << order) - 1)) != 0)
            Fail(pfn, $"{what}: order-{order} block at 0x{pfn:x} is not naturally aligned");
    }

    private static void Claim(byte[] owners, uint pfn, int order, byte owner, string what)
    {
        for (uint i = 0; i < 1u << order; i++)
        {
            if (owners[pfn + i] != Unclaimed)
                Fail(pfn + i, $"{what} at 0x{pfn:x} order {order} overlaps a page already owned ({OwnerName(owners[pfn + i])})");
            owners[pfn + i] = owner;
        }
    }

    private static string OwnerName(byte owner) => owner switch
    {
        BuddyFree => "free block",
        Cached => "per-CPU cache",
        Live => "live folio",
        _ => "nothing",
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsPristine(ref PageDescriptor page)
    {
        var pristine = PageDescriptor.Pristine;
        return new ReadOnlySpan<byte>(Unsafe.AsPointer(ref page), PageDescriptor.Size)
            .SequenceEqual(new ReadOnlySpan<byte>(&pristine, PageDescriptor.Size));
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(long pfn, string what) =>
        throw new ArenaCorruptionException(pfn >= 0 ? $"Arena corrupt at PFN 0x{pfn:x}: {what}." : $"Arena corrupt: {what}.", pfn);
}
