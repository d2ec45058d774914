using LargeFolios.BuddyAllocator;

namespace LargeFolios.FaultPath;

/// <summary>The end of an anonymous folio (Linux <c>folio_put</c> and <c>__folio_put</c>), and the split counters.</summary>
public sealed unsafe partial class Machine
{
    /// <summary>Counts a split of a folio of <paramref name="order"/> or its failure (<c>split</c> / <c>split_failed</c>, and vmstat's <c>thp_split_page</c> / <c>_failed</c> at the PMD order).</summary>
    internal void CountSplit(int order, bool failed)
    {
        if (order == PageGeometry.PmdOrder)
            Events.Count(failed ? VmEvent.ThpSplitPageFailed : VmEvent.ThpSplitPage);
        MthpStats.Count(order, failed ? MthpStatItem.SplitFailed : MthpStatItem.Split);
    }

    /// <summary>Counts a failed split (<see cref="CountSplit"/>) and says why in the trace.</summary>
    internal void CountSplitFailed(uint pfn, int order, int newOrder, FolioSplitRefusal reason)
    {
        CountSplit(order, failed: true);
        if (FaultPathEventSource.IsOn)
            FaultPathEventSource.Log.FolioSplitRefused(_arena.Id, pfn, order, newOrder, reason);
    }

    /// <summary>
    /// Linux <c>folio_put_refs</c> for an anonymous folio: the last reference unqueues it from
    /// deferred split, gives back its <c>nr_anon</c> and frees it (<c>__folio_put</c>,
    /// <c>free_pages_prepare</c>).
    /// </summary>
    internal void ReleaseFolio(Folio folio, int refs)
    {
        if (!_arena.PutTestZero(folio, refs))
            return;

        uint pfn = folio.Pfn;
        int order = folio.Order;
        PageDescriptor* head = _pages + pfn;
        if (order >= 2 && head[1].IsLargeRmappable)
            DeferredSplitQueue.Unqueue(pfn, order);
        if ((head->Mapping & PageDescriptor.MappingAnon) != 0)
            MthpStats.Add(order, MthpStatItem.NrAnon, -1);
        head->Flags &= ~(ulong)(PageFlags.SwapBacked | PageFlags.Uptodate | PageFlags.Dirty);
        _arena.FreeFrozen(folio);
    }

    /// <summary>
    /// <see cref="ReleaseFolio"/> of the folio now headed at <paramref name="headPfn"/>, whatever its
    /// order: after a split, the caller's reference belongs to the piece that kept the old head.
    /// </summary>
    internal void ReleaseFolioAt(uint headPfn, int refs)
    {
        AnonRmap.HeadOf(_pages, headPfn, out int order);
        ReleaseFolio(_arena.HandleOf(headPfn, order), refs);
    }
}
