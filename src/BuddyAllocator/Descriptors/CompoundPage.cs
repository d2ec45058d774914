using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// Writing and clearing the descriptor layout of a folio (Linux <c>prep_compound_page</c>,
/// <c>prep_compound_head</c>, <c>free_tail_page_prepare</c>). Every write stays inside the folio:
/// page[1] is touched only from order 1 up and page[2] only from order 2 up, which is exactly what
/// keeps an order-1 folio off its neighbour's head.
/// </summary>
internal static unsafe class CompoundPage
{
    /// <summary>
    /// Thaws a frozen block into a live folio (Linux <c>post_alloc_hook</c> and
    /// <c>prep_compound_head</c>, less what the frozen state already guarantees): one reference, the
    /// owner, and page[1]'s words that a previous owner may have left changed. The folio mapcounts
    /// were checked unmapped, and page[2]'s deferred list off every queue (so empty, pointing at
    /// the folio), when the block was freed: page[2] is not touched. Field stores only, no 64-byte
    /// struct copies: the free that usually follows reads these words back, and a narrow load
    /// forwards from a store of its own size.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Thaw(PageDescriptor* head, int order, FolioKind kind)
    {
        head->Mapping = kind == FolioKind.Anonymous ? PageDescriptor.MappingAnon : 0;
        head->Refcount = 1;
        if (order == 0)
            return;

        PageDescriptor* second = head + 1;
        second->Flags = (uint)order | (kind == FolioKind.Anonymous && order > 1 ? (ulong)FolioFlags.LargeRmappable : 0);
        second->MmIdMapcount0 = -1;
        second->MmIdMapcount1 = -1;
        second->MmIds = 0;
    }

    /// <summary>
    /// Freezes a checked folio whose refcount the caller already froze to 0 (Linux
    /// <c>free_pages_prepare</c>, less the tails): flags and the owner's words cleared, the compound
    /// layout kept. The list links are written by the list it joins.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Freeze(PageDescriptor* head, int order)
    {
        Debug.Assert(head->Refcount == 0, "Freeze before the refcount freeze");
        head->Flags = order > 0 ? (ulong)PageFlags.Head : 0;
        head->Mapping = 0;
        head->Index = 0;
        head->Private = 0;
        head->Spare = 0;
    }

    /// <summary>
    /// Linux <c>prep_compound_head</c>: page[1] gets the order, the page count and unmapped
    /// folio mapcounts; from order 2, page[2] gets an empty deferred-split list (pointing at the
    /// folio itself). Rmappable folios are flagged in page[1].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrepHeadPages(PageDescriptor* head, uint headPfn, int order, bool rmappable)
    {
        if (order == 0)
            return;

        ulong tag = PageDescriptor.TailTag(headPfn);
        head[1] = new PageDescriptor
        {
            Flags = (uint)order | (rmappable ? (ulong)FolioFlags.LargeRmappable : 0),
            CompoundHead = tag,
            LargeMapcount = -1,
            NrPagesMapped = 0,
            EntireMapcount = -1,
            Pincount = 0,
            MmIdMapcount0 = -1,
            MmIdMapcount1 = -1,
            Mapcount = PageDescriptor.NoMapcount,
            NrPages = 1u << order,
        };

        if (order == 1)
            return;

        head[2] = new PageDescriptor
        {
            CompoundHead = tag,
            DeferredNext = headPfn,
            DeferredPrev = headPfn,
            Mapcount = PageDescriptor.NoMapcount,
        };
    }

    /// <summary>
    /// Linux <c>prep_compound_tail</c> for every tail: points it at the head and marks its
    /// mapping as a tail's. Page[1] and page[2] are tails too until
    /// <see cref="PrepHeadPages"/> overwrites them. O(2^order).
    /// </summary>
    public static void StampTails(PageDescriptor* head, uint headPfn, int order)
    {
        var tail = new PageDescriptor
        {
            CompoundHead = PageDescriptor.TailTag(headPfn),
            Mapping = PageDescriptor.TailMapping,
            Mapcount = PageDescriptor.NoMapcount,
        };
        int pages = 1 << order;
        for (int i = 1; i < pages; i++)
            head[i] = tail;
    }

    /// <summary>
    /// The tail half of Linux <c>free_pages_prepare</c>: every tail back to
    /// <see cref="PageDescriptor.Pristine"/> before the block enters the buddy core. O(2^order).
    /// </summary>
    public static void ClearTails(PageDescriptor* head, int order)
    {
        var pristine = PageDescriptor.Pristine;
        int pages = 1 << order;
        for (int i = 1; i < pages; i++)
            head[i] = pristine;
    }

    /// <summary>
    /// Makes a pristine block taken from the buddy core a frozen folio, as kept on per-CPU lists
    /// and handed to <see cref="Thaw"/>: tails stamped, page[1]/page[2] prepared, no reference.
    /// O(2^order).
    /// </summary>
    public static void PrepFrozen(PageDescriptor* head, uint headPfn, int order)
    {
        *head = new PageDescriptor
        {
            Flags = order > 0 ? (ulong)PageFlags.Head : 0,
            Mapcount = PageDescriptor.NoMapcount,
        };
        if (order == 0)
            return;
        StampTails(head, headPfn, order);
        PrepHeadPages(head, headPfn, order, rmappable: false);
    }
}
