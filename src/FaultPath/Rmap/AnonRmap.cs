using System.Diagnostics;
using System.Runtime.CompilerServices;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.FaultPath;

/// <summary>
/// The mapcount side of Linux's anonymous rmap (mm/rmap.c, 6.18 with CONFIG_PAGE_MAPCOUNT and
/// CONFIG_MM_ID): what mapping or unmapping pages of a folio does to its descriptors. The caller
/// holds the page-table lock of the mapping that changes, so one folio's counts never change
/// from two threads at once (every folio here is mapped by one PMD entry or one PTE table).
/// </summary>
/// <remarks>
/// The counts, all -1 based as Linux keeps them, for an anonymous folio of order k &gt; 0:
/// <code>
/// page[i].Mapcount       = (PTEs mapping page i) - 1
/// page[1].EntireMapcount = (PMDs mapping the folio) - 1
/// page[1].LargeMapcount  = (PTEs mapping any page) + (PMDs mapping it) - 1
/// page[1].NrPagesMapped  = (pages with a PTE) + ENTIRELY_MAPPED * (PMDs mapping it)
/// refcount               = PTEs + PMDs mapping it + temporary references (a scan, a split)
/// </code>
/// An order-0 folio has only its own Mapcount. AnonExclusive is set on every page a PTE maps
/// (only on the head for a PMD mapping), since no address space here ever shares a page.
/// </remarks>
internal static unsafe class AnonRmap
{
    /// <summary>Linux ENTIRELY_MAPPED: the PMD mapping's share of <c>_nr_pages_mapped</c>.</summary>
    public const int EntirelyMapped = 0x800000;

    private const ulong NewAnonFlags = (ulong)(PageFlags.SwapBacked | PageFlags.Uptodate | PageFlags.AnonExclusive);

    /// <summary>
    /// Linux <c>folio_add_new_anon_rmap(folio, vma, address, RMAP_EXCLUSIVE)</c> for a folio just
    /// allocated: owner and index set, mapped by PTEs (every page) or by one PMD.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddNew(PageDescriptor* head, int order, ulong owner, ulong index, bool byPmd, uint mmId)
    {
        head->Mapping = owner;
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
            SetLargeMapcount(second, 0, mmId);
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

        SetLargeMapcount(second, nr - 1, mmId);
        second->NrPagesMapped = nr;
    }

    /// <summary>
    /// Linux <c>folio_add_anon_rmap_ptes(folio, page, nr, vma, address, RMAP_EXCLUSIVE)</c>: PTEs now
    /// map pages <paramref name="first"/> .. + <paramref name="nr"/> of an existing folio (a PMD split,
    /// or the remap after a folio split).
    /// </summary>
    public static void AddPtes(PageDescriptor* head, int order, int first, int nr, uint mmId)
    {
        if (order == 0)
        {
            Debug.Assert(nr == 1 && first == 0, "an order-0 folio has one page");
            head->Mapcount++;
            head->Flags |= (ulong)PageFlags.AnonExclusive;
            return;
        }

        int firstMapped = 0;
        for (int i = first; i < first + nr; i++)
        {
            if (++head[i].Mapcount == 0)
                firstMapped++;
            head[i].Flags |= (ulong)PageFlags.AnonExclusive;
        }

        PageDescriptor* second = head + 1;
        SetLargeMapcount(second, second->LargeMapcount + nr, mmId);
        second->NrPagesMapped += firstMapped;
    }

    /// <summary>
    /// Linux <c>__folio_remove_rmap(..., PGTABLE_LEVEL_PTE)</c>: PTEs no longer map pages
    /// <paramref name="first"/> .. + <paramref name="nr"/>.
    /// </summary>
    /// <returns>Whether the folio is now partly mapped: some page lost its last mapping and some other page is still mapped (the caller queues it for deferred split).</returns>
    public static bool RemovePtes(PageDescriptor* head, int order, int first, int nr, uint mmId)
    {
        if (order == 0)
        {
            Debug.Assert(nr == 1 && first == 0, "an order-0 folio has one page");
            head->Mapcount--;
            head->Flags &= ~(ulong)PageFlags.AnonExclusive;
            return false;
        }

        PageDescriptor* second = head + 1;
        SetLargeMapcount(second, second->LargeMapcount - nr, mmId);
        int last = 0;
        for (int i = first; i < first + nr; i++)
        {
            if (--head[i].Mapcount == -1)
            {
                last++;
                head[i].Flags &= ~(ulong)PageFlags.AnonExclusive;
            }
        }

        int unmapped = 0;
        if (last != 0)
        {
            second->NrPagesMapped -= last;
            if (second->NrPagesMapped < EntirelyMapped)
                unmapped = last;
        }

        Debug.Assert(second->NrPagesMapped >= 0 && second->LargeMapcount >= -1, "folio mapcount underflow");
        return unmapped != 0 && second->NrPagesMapped != 0;
    }

    /// <summary>Linux <c>__folio_remove_rmap(..., PGTABLE_LEVEL_PMD)</c>: the PMD no longer maps the folio.</summary>
    /// <returns>Whether the folio is now partly mapped (some pages still mapped by PTEs, some not).</returns>
    public static bool RemovePmd(PageDescriptor* head, int order, uint mmId)
    {
        PageDescriptor* second = head + 1;
        SetLargeMapcount(second, second->LargeMapcount - 1, mmId);
        int nrPages = 1 << order;
        int unmapped = 0;
        if (--second->EntireMapcount == -1)
        {
            second->NrPagesMapped -= EntirelyMapped;
            if (second->NrPagesMapped < EntirelyMapped)
                unmapped = System.Math.Max(0, nrPages - second->NrPagesMapped);
        }

        // The PMD mapping's exclusive mark lives on the head; it goes when nothing maps the head.
        if (second->EntireMapcount == -1 && head->Mapcount == -1)
            head->Flags &= ~(ulong)PageFlags.AnonExclusive;
        Debug.Assert(second->NrPagesMapped >= 0 && second->LargeMapcount >= -1, "folio mapcount underflow");
        return unmapped != 0 && unmapped < nrPages;
    }

    /// <summary>page[1]'s folio counts as an unmapped folio has them (what a fresh folio holds, and what a split expects).</summary>
    public static void ResetLargeCounts(PageDescriptor* second)
    {
        second->EntireMapcount = -1;
        SetLargeMapcount(second, -1, 0);
        second->NrPagesMapped = 0;
    }

    /// <summary>Linux <c>page_folio</c>: the head of the folio page <paramref name="pfn"/> belongs to, and its order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint HeadOf(PageDescriptor* pages, uint pfn, out int order)
    {
        uint head = pages[pfn].IsTail ? pages[pfn].HeadPfn : pfn;
        order = pages[head].IsHead ? pages[head + 1].FolioOrder : 0;
        return head;
    }

    /// <summary>Linux <c>folio_mapcount</c>: how many page-table entries map the folio (PTEs plus PMDs).</summary>
    public static int Mapcount(PageDescriptor* head, int order) =>
        order == 0 ? head->Mapcount + 1 : head[1].LargeMapcount + 1;

    /// <summary>
    /// The large mapcount and its CONFIG_MM_ID shadow: one tracked mm (slot 0) with the same count,
    /// its id kept while it maps the folio (Linux <c>folio_set_large_mapcount</c> and friends).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetLargeMapcount(PageDescriptor* second, int mapcount, uint mmId)
    {
        second->LargeMapcount = mapcount;
        second->MmIdMapcount0 = mapcount;
        second->MmIds = mapcount >= 0 ? mmId : 0;
    }
}
