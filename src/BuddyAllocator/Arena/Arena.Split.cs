using System;

namespace LargeFolios.BuddyAllocator;

/// <summary>Splitting folios in place (Linux mm/huge_memory.c, <c>__split_unmapped_folio</c>).</summary>
public sealed unsafe partial class Arena
{
    /// <summary>
    /// Splits <paramref name="folio"/> into folios of <paramref name="newOrder"/> (Linux
    /// <c>split_huge_page_to_order</c>, a uniform split): an order-9 folio split to order 2 becomes
    /// 128 order-2 folios. Each new folio holds one reference, owned by the caller.
    /// </summary>
    /// <returns>The folios that now cover the old folio's pages, in PFN order.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="newOrder"/> is not below the folio's order.</exception>
    /// <exception cref="OrderOneFolioException">The folio is anonymous and <paramref name="newOrder"/> is 1.</exception>
    /// <exception cref="BadFolioException">The folio is not live, is shared, mapped, pinned or queued for deferred split.</exception>
    public FolioRange SplitUniform(Folio folio, int newOrder)
    {
        bool anon = CheckSplit(folio, newOrder, folio.Pfn);
        SplitToOrder(folio.Pfn, folio.Order, newOrder, anon);
        if (AllocatorEventSource.IsOn)
            AllocatorEventSource.Log.FolioSplit(_id, folio.Pfn, folio.Order, newOrder, 1 << (folio.Order - newOrder), uniform: true);
        return new FolioRange(this, folio.Pfn, 1u << folio.Order);
    }

    /// <summary>
    /// Splits <paramref name="folio"/> the way the buddy allocator splits a block (Linux 6.15's
    /// <c>folio_split</c>, a non-uniform split): halve it, keep halving only the half that holds
    /// <paramref name="splitAtPfn"/>, until that half has <paramref name="newOrder"/>. An order-9
    /// folio split to order 3 at its third order-3 chunk gives, in PFN order, folios of orders
    /// 4, 3 (the one holding the page), 3, 5, 6, 7, 8. An anonymous folio skips order 1, so its
    /// last step splits an order-2 folio straight to order 0.
    /// </summary>
    /// <returns>The folios that now cover the old folio's pages, in PFN order.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="newOrder"/> is not below the
    /// folio's order, or <paramref name="splitAtPfn"/> is not in the folio.</exception>
    /// <exception cref="OrderOneFolioException">The folio is anonymous and <paramref name="newOrder"/> is 1.</exception>
    /// <exception cref="BadFolioException">The folio is not live, is shared, mapped, pinned or queued for deferred split.</exception>
    public FolioRange SplitNonUniform(Folio folio, int newOrder, uint splitAtPfn)
    {
        bool anon = CheckSplit(folio, newOrder, splitAtPfn);

        uint head = folio.Pfn;
        int order = folio.Order;
        int folios = 1;
        for (int splitOrder = order - 1; splitOrder >= newOrder; splitOrder--)
        {
            // An order-1 anonymous folio cannot exist; the order-2 folio goes straight to order 0.
            if (anon && splitOrder == 1)
                continue;
            SplitToOrder(head, order, splitOrder, anon);
            folios += (1 << (order - splitOrder)) - 1;
            head = splitAtPfn & ~((1u << splitOrder) - 1);
            order = splitOrder;
        }

        if (AllocatorEventSource.IsOn)
            AllocatorEventSource.Log.FolioSplit(_id, folio.Pfn, folio.Order, newOrder, folios, uniform: false);

        return new FolioRange(this, folio.Pfn, 1u << folio.Order);
    }

    /// <summary>
    /// Every refusal happens here, before anything is written (Linux <c>uniform_split_supported</c>,
    /// <c>non_uniform_split_supported</c>, and the refcount freeze that a split needs).
    /// </summary>
    /// <returns>Whether the folio is anonymous.</returns>
    private bool CheckSplit(Folio folio, int newOrder, uint splitAtPfn)
    {
        PageDescriptor* pages = _pages;
        if (folio.ArenaId != _id || pages == null)
            ThrowForeignFolio(folio);

        uint pfn = folio.Pfn;
        int order = folio.Order;
        // Linux splits a locked folio, so the lock and LRU flags are no obstacle here.
        if (!IsFreeable(pages + pfn, order, checkedFlags: 0))
            ThrowNotFreeable(pfn, order, checkedFlags: 0);

        string where = $"folio at PFN 0x{pfn:x}{AddressText(pfn)} order {order}";
        if ((uint)newOrder >= (uint)order)
        {
            throw new ArgumentOutOfRangeException(
                nameof(newOrder), newOrder, $"Cannot split {where} to order {newOrder}: expected an order from 0 to {order - 1}.");
        }

        if (splitAtPfn - pfn >= 1u << order)
        {
            throw new ArgumentOutOfRangeException(
                nameof(splitAtPfn), splitAtPfn, $"Cannot split {where} at PFN 0x{splitAtPfn:x}: expected a page of the folio, 0x{pfn:x}..0x{pfn + (1u << order) - 1:x}.");
        }

        ref PageDescriptor head = ref pages[pfn];
        for (int i = 1; i < 1 << order; i++)
        {
            if (pages[pfn + i].Mapcount != PageDescriptor.NoMapcount)
            {
                ThrowHelper.ThrowBadFolio(
                    $"Cannot split {where}: page {i} (PFN 0x{pfn + i:x}) has mapcount {pages[pfn + i].Mapcount}; expected the folio unmapped.",
                    BadFolioReason.Mapped, pfn, order);
            }
        }

        bool anon = (head.Mapping & PageDescriptor.MappingAnon) != 0;
        if (anon && newOrder == 1)
        {
            if (AllocatorEventSource.IsOn)
                AllocatorEventSource.Log.FolioSplitRefused(_id, pfn, order);
            throw new OrderOneFolioException(
                $"Cannot split anonymous {where} to order 1: its deferred-split list would live in page[2], the next folio's head (Linux: \"Cannot split to order-1 folio\").",
                pfn);
        }

        // Linux freezes the refcount before it splits: a racing Get fails rather than landing
        // on one of the new folios. Every new folio then gets one reference.
        if (!TryFreezeRefcount(pages + pfn))
            ThrowNotFreeable(pfn, order, checkedFlags: 0);
        DebugVm.CheckFolio(this, pfn, order, frozen: true);
        return anon;
    }

    /// <summary>
    /// Rewrites one folio as 2^(old - new) folios of <paramref name="newOrder"/>, reusing the
    /// descriptors in place (Linux <c>__split_folio_to_order</c>): each new head is initialised from
    /// the old head (flags, owner, index + offset) with one reference; from order 1 its tails are
    /// pointed at it and its page[1]/page[2] written; at order 0 every page is its own head.
    /// Nothing outside the old folio is touched.
    /// </summary>
    private void SplitToOrder(uint headPfn, int oldOrder, int newOrder, bool anon)
    {
        PageDescriptor* old = _pages + headPfn;
        PageDescriptor template = *old;
        // No LRU is modelled at this layer: the new folios are on none.
        ulong flags = template.Flags & ~(ulong)(PageFlags.Head | PageFlags.Lru);
        if (newOrder > 0)
            flags |= (ulong)PageFlags.Head;
        bool rmappable = anon && newOrder > 1;

        // The first new folio keeps the old head's words (its list links among them); its order
        // changes and it gets back the reference the split froze.
        old->Flags = flags;
        old->Refcount = 1;
        if (newOrder > 0)
        {
            CompoundPage.StampTails(old, headPfn, newOrder);
            CompoundPage.PrepHeadPages(old, headPfn, newOrder, rmappable);
        }

        int step = 1 << newOrder;
        for (int i = step; i < 1 << oldOrder; i += step)
        {
            uint newHeadPfn = headPfn + (uint)i;
            PageDescriptor* newHead = old + i;
            *newHead = new PageDescriptor
            {
                Flags = flags,
                Mapping = template.Mapping,
                Index = template.Index + (ulong)i,
                Mapcount = PageDescriptor.NoMapcount,
                Refcount = 1,
            };
            if (newOrder > 0)
            {
                CompoundPage.StampTails(newHead, newHeadPfn, newOrder);
                CompoundPage.PrepHeadPages(newHead, newHeadPfn, newOrder, rmappable);
            }
        }
    }
}
