using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>The diagnoses behind the cheap checks: why a handle or a folio was refused, as a specific exception.</summary>
public sealed unsafe partial class Arena
{
    [DoesNotReturn]
    private void ThrowForeignFolio(Folio folio)
    {
        ThrowIfDisposed();
        if (folio.IsNull)
            ThrowHelper.ThrowBadFolio("The folio handle is empty (default(Folio)); expected a folio allocated from this arena.", BadFolioReason.NullFolio, -1, -1);
        ThrowHelper.ThrowBadFolio(
            $"Folio at PFN 0x{folio.Pfn:x} order {folio.Order} belongs to another arena; expected a folio of this arena.",
            BadFolioReason.WrongArena, folio.Pfn, folio.Order);
    }

    [DoesNotReturn]
    private void ThrowNotInArena(void* address)
    {
        nuint start = (nuint)_memory;
        ThrowHelper.ThrowBadFolio(
            $"Address 0x{(nuint)address:x} is outside this arena [0x{start:x}, 0x{start + _memoryBytes:x}).",
            BadFolioReason.NotInArena, -1, -1);
    }

    /// <summary>The detailed diagnosis after <see cref="IsFreeable"/> failed (Linux <c>bad_page</c> reasons).</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNotFreeable(uint pfn, int order, ulong checkedFlags = FlagsCheckedAtFree)
    {
        ref PageDescriptor head = ref _pages[pfn];
        string where = $"folio at PFN 0x{pfn:x}{AddressText(pfn)} order {order}";
        if (head.IsTail)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot use {where}: the page is a tail of the folio at PFN 0x{head.HeadPfn:x}; expected a head page.",
                BadFolioReason.TailPage, pfn, order);
        }

        if (head.HasPageType || head.Refcount <= 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot use {where}: the page is already free (refcount {head.Refcount}); expected a live folio (double free?).",
                BadFolioReason.AlreadyFree, pfn, order);
        }

        int actual = ActualOrder(pfn);
        if (actual != order)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot use {where}: the folio there has order {actual}; expected order {order} (a handle kept across a split?).",
                BadFolioReason.OrderMismatch, pfn, order);
        }

        if (head.Refcount != 1)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free {where}: it holds {head.Refcount} references; expected exactly 1 (use Put to drop a shared reference).",
                BadFolioReason.StillReferenced, pfn, order);
        }

        if ((head.Flags & checkedFlags) != 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free {where}: flags 0x{head.Flags:x} have PG_locked or PG_lru set; expected the folio unlocked and off every LRU list.",
                BadFolioReason.LockedOrOnLru, pfn, order);
        }

        ThrowIfMappedOrQueued(pfn, order, where);
        throw new UnreachableException($"The free check failed for {where}, but no reason was found.");
    }

    private void ThrowIfMappedOrQueued(uint pfn, int order, string where)
    {
        ref PageDescriptor head = ref _pages[pfn];
        if (head.Mapcount != PageDescriptor.NoMapcount)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free or split {where}: its head page has mapcount word 0x{head.PageTypeWord:x8}; expected -1 (unmapped).",
                BadFolioReason.Mapped, pfn, order);
        }

        if (order == 0)
            return;

        ref PageDescriptor second = ref _pages[pfn + 1];
        if (second.EntireMapcount != -1 || second.LargeMapcount != -1 || second.NrPagesMapped != 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free or split {where}: entire_mapcount {second.EntireMapcount}, large_mapcount {second.LargeMapcount}, nr_pages_mapped {second.NrPagesMapped}; expected -1, -1, 0 (unmapped).",
                BadFolioReason.Mapped, pfn, order);
        }

        if (second.Pincount != 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free or split {where}: pincount {second.Pincount}; expected 0.",
                BadFolioReason.Pinned, pfn, order);
        }

        if (order >= 2 && second.IsLargeRmappable && _pages[pfn + 2].DeferredQueue != 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free or split {where}: it is on deferred-split queue {_pages[pfn + 2].DeferredQueue}; expected it dequeued first.",
                BadFolioReason.OnDeferredList, pfn, order);
        }
    }
}
