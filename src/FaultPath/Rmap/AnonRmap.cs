using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Threading;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.FaultPath;

/// <summary>
/// The mapcount side of Linux's anonymous rmap (mm/rmap.c and include/linux/rmap.h, 6.18 with
/// CONFIG_PAGE_MAPCOUNT and CONFIG_MM_ID): what mapping, sharing (fork) or unmapping pages of a
/// folio does to its descriptors, in every address space that maps it.
/// </summary>
/// <remarks>
/// <para>The counts, all -1 based as Linux keeps them, for an anonymous folio of order k &gt; 0,
/// where P_m(i) says address space m maps page i by a PTE and E_m that it maps the folio by a PMD:</para>
/// <code>
/// page[i].Mapcount       = Σ_m P_m(i) - 1
/// page[1].EntireMapcount = Σ_m E_m - 1
/// page[1].LargeMapcount  = Σ_m (Σ_i P_m(i) + E_m) - 1                        (folio_mapcount - 1)
/// page[1].NrPagesMapped  = #{i : Σ_m P_m(i) &gt; 0} + ENTIRELY_MAPPED * (Σ_m E_m &gt; 0)
/// refcount               = Σ_m (Σ_i P_m(i) + E_m) + temporary references (a scan, a split)
/// page[1].MmIds          = slot 0's mm id (bits 0-30) | lock (bit 31) | slot 1's mm id (bits 32-62) | shared (bit 63)
/// page[1].MmIdMapcount0/1 = the mappings counted for that slot's mm - 1 (-1: empty)
/// </code>
/// <para>The two slots track up to two address spaces; a third maps the folio without a slot.
/// The shared bit is set when a second address space maps the folio and cleared only when one slot
/// is found to hold every mapping (<see cref="AddLargeMapcount"/>, <see cref="SubLargeMapcount"/>,
/// Linux <c>folio_add_return_large_mapcount</c> / <c>folio_sub_return_large_mapcount</c>, applied
/// literally: with three address spaces the bit is history dependent). Whenever two address spaces
/// map the folio the bit is set; when none does, it is clear.</para>
/// <para>AnonExclusive is a page flag: set on every page a fault maps (only the head for a PMD
/// mapping), cleared on both sides when a fork shares the page, set again on a page whose write
/// fault reuses it; the model clears it too when a page's last mapping goes.</para>
/// <para>Threads: per-page mapcounts and nr_pages_mapped change atomically; the large mapcount and
/// the slots change under the folio's mm-ids bit lock (Linux <c>folio_lock_large_mapcount</c>), so
/// address spaces mapping one folio may change its counts at once. An order-0 folio has only its
/// own Mapcount.</para>
/// </remarks>
internal static unsafe class AnonRmap
{
    /// <summary>Linux ENTIRELY_MAPPED: the PMD mapping's share of <c>_nr_pages_mapped</c>.</summary>
    public const int EntirelyMapped = 0x800000;

    private const ulong NewAnonFlags = (ulong)(PageFlags.SwapBacked | PageFlags.Uptodate | PageFlags.AnonExclusive);

    private const int IdBits = 31;
    private const ulong IdMask = (1UL << IdBits) - 1;
    private const ulong LockBit = 1UL << IdBits;
    private const int Slot1Shift = 32;
    private const ulong SharedBit = 1UL << 63;

    /// <summary>
    /// Linux <c>folio_add_new_anon_rmap(folio, vma, address, RMAP_EXCLUSIVE)</c> for a folio just
    /// allocated: mapping and index set, mapped by PTEs (every page) or by one PMD, in the address
    /// space <paramref name="mmId"/>, which takes slot 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddNew(PageDescriptor* head, int order, ulong mapping, ulong index, bool byPmd, uint mmId)
    {
        head->Mapping = mapping;
        head->Index = index;
        head->Flags |= NewAnonFlags;
        if (order == 0)
        {
            head->Mapcount = 0;
            return;
        }

        PageDescriptor* second = head + 1;
        if (byPmd)
        {
            second->EntireMapcount = 0;
            SetLargeMapcount(second, 1, mmId);
            second->NrPagesMapped = EntirelyMapped;
            return;
        }

        int nr = 1 << order;
        head->Mapcount = 0;
        for (int i = 1; i < nr; i++)
        {
            head[i].Mapcount = 0;
            head[i].Flags |= (ulong)PageFlags.AnonExclusive;
        }

        SetLargeMapcount(second, nr, mmId);
        second->NrPagesMapped = nr;
    }

    /// <summary>
    /// Linux <c>folio_add_anon_rmap_ptes(folio, page, nr, vma, address, exclusive ? RMAP_EXCLUSIVE : RMAP_NONE)</c>:
    /// PTEs of <paramref name="mmId"/> now map pages <paramref name="first"/> .. + <paramref name="nr"/>
    /// of an existing folio (a PMD split, the remap after a folio split).
    /// </summary>
    public static void AddPtes(PageDescriptor* head, int order, int first, int nr, uint mmId, bool exclusive = true)
    {
        if (order == 0)
        {
            Debug.Assert(nr == 1 && first == 0, "an order-0 folio has one page");
            Interlocked.Increment(ref head->Mapcount);
            if (exclusive)
                Interlocked.Or(ref head->Flags, (ulong)PageFlags.AnonExclusive);
            return;
        }

        int firstMapped = 0;
        for (int i = first; i < first + nr; i++)
        {
            if (Interlocked.Increment(ref head[i].Mapcount) == 0)
                firstMapped++;
            if (exclusive)
                Interlocked.Or(ref head[i].Flags, (ulong)PageFlags.AnonExclusive);
        }

        PageDescriptor* second = head + 1;
        if (firstMapped != 0)
            Interlocked.Add(ref second->NrPagesMapped, firstMapped);
        AddLargeMapcount(second, nr, mmId);
    }

    /// <summary>Linux <c>folio_add_anon_rmap_pmd</c>: a PMD of <paramref name="mmId"/> now maps the whole folio.</summary>
    public static void AddPmd(PageDescriptor* head, uint mmId, bool exclusive)
    {
        PageDescriptor* second = head + 1;
        if (Interlocked.Increment(ref second->EntireMapcount) == 0)
            Interlocked.Add(ref second->NrPagesMapped, EntirelyMapped);
        AddLargeMapcount(second, 1, mmId);
        if (exclusive)
            Interlocked.Or(ref head->Flags, (ulong)PageFlags.AnonExclusive);
    }

    /// <summary>
    /// Linux <c>folio_try_dup_anon_rmap_ptes</c> (its success path: nothing here is ever pinned): a
    /// fork's child <paramref name="childMmId"/> maps pages <paramref name="first"/> .. +
    /// <paramref name="nr"/> too. Each page loses AnonExclusive (for both sides) and gains a mapping;
    /// nr_pages_mapped does not change (they were mapped already).
    /// </summary>
    /// <remarks>
    /// The caller (fork) holds the parent's mmap lock for write, and a split takes the lock of every
    /// process that may map the folio before the folio's own. So a page that is AnonExclusive, mapped
    /// by the parent alone, has its flags and mapcount changed by nobody else meanwhile: they are
    /// plain stores (the common case: a first fork pays no atomic per page). A page that another
    /// process maps too may have its mapcount changed by that process at any moment: atomic.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DupPtes(PageDescriptor* head, int order, int first, int nr, uint childMmId)
    {
        if (order == 0)
        {
            Debug.Assert(nr == 1 && first == 0, "an order-0 folio has one page");
            DupPage(head);
            return;
        }

        int end = first + nr;
        for (int i = first; i < end; i++)
        {
            // Each page's descriptor is a line of its own, and an atomic stalls until its line is
            // here: ask for the lines a few pages ahead (within the folio) first.
            if (Sse.IsSupported && i + DupPrefetchDistance < end)
                Sse.Prefetch0(head + i + DupPrefetchDistance);
            DupPage(head + i);
        }

        AddLargeMapcount(head + 1, nr, childMmId);
    }

    private const int DupPrefetchDistance = 6;

    /// <summary>One page of <see cref="DupPtes"/>: AnonExclusive cleared, one mapping more (see its remarks for why an exclusive page needs no atomics).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DupPage(PageDescriptor* page)
    {
        ulong flags = page->Flags;
        if ((flags & (ulong)PageFlags.AnonExclusive) != 0)
        {
            Debug.Assert(page->Mapcount == 0, "an AnonExclusive page is mapped once");
            page->Flags = flags & ~(ulong)PageFlags.AnonExclusive;
            page->Mapcount = 1;
        }
        else
        {
            int mapcount = Interlocked.Increment(ref page->Mapcount);
            Debug.Assert(mapcount > 0, "a fork duplicated an unmapped page");
        }
    }

    /// <summary>Linux <c>folio_try_dup_anon_rmap_pmd</c>: a fork's child maps the PMD THP too; the head loses AnonExclusive.</summary>
    public static void DupPmd(PageDescriptor* head, uint childMmId)
    {
        Interlocked.And(ref head->Flags, ~(ulong)PageFlags.AnonExclusive);
        int entire = Interlocked.Increment(ref head[1].EntireMapcount);
        Debug.Assert(entire > 0, "a fork duplicated an unmapped PMD");
        AddLargeMapcount(head + 1, 1, childMmId);
    }

    /// <summary>
    /// Linux <c>__folio_remove_rmap(..., PGTABLE_LEVEL_PTE)</c>: PTEs of <paramref name="mmId"/> no
    /// longer map pages <paramref name="first"/> .. + <paramref name="nr"/> (one call per batch, as
    /// the caller's Linux counterpart batches: a zap by runs, a COW or a split's unmap by one page).
    /// </summary>
    /// <returns>Whether the folio is now partly mapped: this call left some page mapped by nobody while another is still mapped, and no PMD maps it (the caller queues it for deferred split).</returns>
    public static bool RemovePtes(PageDescriptor* head, int order, int first, int nr, uint mmId)
    {
        if (order == 0)
        {
            Debug.Assert(nr == 1 && first == 0, "an order-0 folio has one page");
            if (Interlocked.Decrement(ref head->Mapcount) == -1)
                Interlocked.And(ref head->Flags, ~(ulong)PageFlags.AnonExclusive);
            return false;
        }

        PageDescriptor* second = head + 1;
        SubLargeMapcount(second, nr, mmId);
        int last = 0;
        for (int i = first; i < first + nr; i++)
        {
            if (Interlocked.Decrement(ref head[i].Mapcount) == -1)
            {
                last++;
                Interlocked.And(ref head[i].Flags, ~(ulong)PageFlags.AnonExclusive);
            }
        }

        int unmapped = 0;
        int mapped = 0;
        if (last != 0)
        {
            mapped = Interlocked.Add(ref second->NrPagesMapped, -last);
            if (mapped < EntirelyMapped)
                unmapped = last;
        }

        Debug.Assert(second->NrPagesMapped >= 0 && second->LargeMapcount >= -1, "folio mapcount underflow");
        return unmapped != 0 && mapped != 0;
    }

    /// <summary>Linux <c>__folio_remove_rmap(..., PGTABLE_LEVEL_PMD)</c>: a PMD of <paramref name="mmId"/> no longer maps the folio.</summary>
    /// <returns>Whether the folio is now partly mapped: it was the last PMD, and some but not all pages remain mapped by PTEs.</returns>
    public static bool RemovePmd(PageDescriptor* head, int order, uint mmId)
    {
        PageDescriptor* second = head + 1;
        SubLargeMapcount(second, 1, mmId);
        int nrPages = 1 << order;
        int unmapped = 0;
        if (Interlocked.Decrement(ref second->EntireMapcount) == -1)
        {
            int mapped = Interlocked.Add(ref second->NrPagesMapped, -EntirelyMapped);
            if (mapped < EntirelyMapped)
                unmapped = System.Math.Max(0, nrPages - mapped);
        }

        // The PMD mapping's exclusive mark lives on the head; it goes when nothing maps the head.
        if (second->EntireMapcount == -1 && head->Mapcount == -1)
            Interlocked.And(ref head->Flags, ~(ulong)PageFlags.AnonExclusive);
        Debug.Assert(second->NrPagesMapped >= 0 && second->LargeMapcount >= -1, "folio mapcount underflow");
        return unmapped != 0 && unmapped < nrPages;
    }

    /// <summary>page[1]'s folio counts as an unmapped folio has them (what a fresh folio holds, and what a split expects).</summary>
    public static void ResetLargeCounts(PageDescriptor* second)
    {
        second->EntireMapcount = -1;
        second->LargeMapcount = -1;
        second->NrPagesMapped = 0;
        second->MmIdMapcount0 = -1;
        second->MmIdMapcount1 = -1;
        second->MmIds = 0;
    }

    /// <summary>Linux <c>page_folio</c>: the head of the folio page <paramref name="pfn"/> belongs to, and its order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint HeadOf(PageDescriptor* pages, uint pfn, out int order)
    {
        uint head = pages[pfn].IsTail ? pages[pfn].HeadPfn : pfn;
        order = pages[head].IsHead ? pages[head + 1].FolioOrder : 0;
        return head;
    }

    /// <summary>Linux <c>folio_mapcount</c>: how many page-table entries map the folio (PTEs plus PMDs), in every address space.</summary>
    public static int Mapcount(PageDescriptor* head, int order) =>
        order == 0 ? Volatile.Read(ref head->Mapcount) + 1 : Volatile.Read(ref head[1].LargeMapcount) + 1;

    /// <summary>
    /// Linux <c>folio_maybe_mapped_shared</c>: an order-0 folio mapped more than once; a large folio
    /// mapped more than once whose shared bit is set (two address spaces map it, or did while a third
    /// without a slot still does).
    /// </summary>
    public static bool MaybeMappedShared(PageDescriptor* head, int order) =>
        order == 0
            ? Volatile.Read(ref head->Mapcount) > 0
            : Volatile.Read(ref head[1].LargeMapcount) > 0 && (Volatile.Read(ref head[1].MmIds) & SharedBit) != 0;

    /// <summary>Whether the shared bit (bit 63 of page[1]'s mm ids) is set.</summary>
    public static bool IsShared(PageDescriptor* second) => (Volatile.Read(ref second->MmIds) & SharedBit) != 0;

    /// <summary>The mm id slot <paramref name="slot"/> (0 or 1) names; 0 when empty.</summary>
    public static uint SlotMm(PageDescriptor* second, int slot) =>
        (uint)((Volatile.Read(ref second->MmIds) >> (slot * Slot1Shift)) & IdMask);

    /// <summary>The mapcount (-1 based) slot <paramref name="slot"/> holds.</summary>
    public static int SlotMapcount(PageDescriptor* second, int slot) => slot == 0 ? second->MmIdMapcount0 : second->MmIdMapcount1;

    /// <summary>Linux <c>folio_set_large_mapcount(folio, n, vma)</c>: a new folio mapped <paramref name="mappings"/> times by one address space, which takes slot 0.</summary>
    private static void SetLargeMapcount(PageDescriptor* second, int mappings, uint mmId)
    {
        Debug.Assert(mmId != 0 && mmId <= IdMask, "an mm id is 1..2^31-1");
        second->LargeMapcount = mappings - 1;
        second->MmIdMapcount0 = mappings - 1;
        second->MmIdMapcount1 = -1;
        second->MmIds = mmId;
    }

    /// <summary>
    /// Linux <c>folio_add_return_large_mapcount(folio, diff, vma)</c>, under the mm-ids lock: the
    /// total grows; the address space's slot counts it, or it takes a free slot (and the folio
    /// becomes shared when anyone else maps it), or, with both slots taken, only the total counts.
    /// </summary>
    private static void AddLargeMapcount(PageDescriptor* second, int diff, uint mmId)
    {
        LockMapcount(second);
        ulong ids = second->MmIds;
        int total = second->LargeMapcount + diff;
        second->LargeMapcount = total;
        uint id0 = (uint)(ids & IdMask);
        uint id1 = (uint)((ids >> Slot1Shift) & IdMask);
        if (id0 == mmId)
        {
            second->MmIdMapcount0 += diff;
        }
        else if (id1 == mmId)
        {
            second->MmIdMapcount1 += diff;
        }
        else if (id0 == 0)
        {
            ids |= mmId;
            second->MmIdMapcount0 = diff - 1;
            if (total != diff - 1)
                ids |= SharedBit;
        }
        else if (id1 == 0)
        {
            ids |= (ulong)mmId << Slot1Shift;
            second->MmIdMapcount1 = diff - 1;
            ids |= SharedBit;
        }

        UnlockMapcount(second, ids);
    }

    /// <summary>
    /// Linux <c>folio_sub_return_large_mapcount(folio, diff, vma)</c>, under the mm-ids lock: the
    /// total shrinks; the address space's slot too, freed when it drops below zero; then, if its
    /// slot went or it had none, the folio stops being shared when one slot holds every mapping.
    /// </summary>
    private static void SubLargeMapcount(PageDescriptor* second, int diff, uint mmId)
    {
        LockMapcount(second);
        ulong ids = second->MmIds;
        int total = second->LargeMapcount - diff;
        second->LargeMapcount = total;
        uint id0 = (uint)(ids & IdMask);
        uint id1 = (uint)((ids >> Slot1Shift) & IdMask);
        if (id0 == mmId)
        {
            second->MmIdMapcount0 -= diff;
            if (second->MmIdMapcount0 >= 0)
            {
                UnlockMapcount(second, ids);
                return;
            }

            ids &= ~IdMask;
            second->MmIdMapcount0 = -1;
        }
        else if (id1 == mmId)
        {
            second->MmIdMapcount1 -= diff;
            if (second->MmIdMapcount1 >= 0)
            {
                UnlockMapcount(second, ids);
                return;
            }

            ids &= ~(IdMask << Slot1Shift);
            second->MmIdMapcount1 = -1;
        }

        if (second->MmIdMapcount0 == total || second->MmIdMapcount1 == total)
            ids &= ~SharedBit;
        UnlockMapcount(second, ids);
    }

    /// <summary>Linux <c>folio_lock_large_mapcount</c>: the bit spinlock in page[1]'s mm ids.</summary>
    private static void LockMapcount(PageDescriptor* second)
    {
        var spinner = default(SpinWait);
        while ((Interlocked.Or(ref second->MmIds, LockBit) & LockBit) != 0)
            spinner.SpinOnce(sleep1Threshold: -1);
    }

    /// <summary>Publishes the new ids with the lock bit clear (Linux <c>folio_unlock_large_mapcount</c>).</summary>
    private static void UnlockMapcount(PageDescriptor* second, ulong ids) =>
        Volatile.Write(ref second->MmIds, ids & ~LockBit);
}
