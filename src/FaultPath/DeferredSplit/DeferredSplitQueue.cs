using System.Diagnostics;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.FaultPath;

/// <summary>
/// The deferred-split queue (Linux <c>struct deferred_split</c>, one per node): large anonymous
/// folios that are partly unmapped, or PMD THPs that may turn out underused, waiting for the
/// shrinker (<see cref="Machine.ShrinkDeferredSplit"/>) to split them and free what nobody maps.
/// </summary>
/// <remarks>
/// <para>The links live in each folio's page[2] (<see cref="PageDescriptor.DeferredNext"/>,
/// <see cref="PageDescriptor.DeferredPrev"/>, <see cref="PageDescriptor.DeferredQueue"/>), as
/// Linux's <c>folio->_deferred_list</c> does. That is why an order-1 folio can never be queued,
/// and so never be an anonymous large folio: its page[2] is the next folio's head.</para>
/// <para>Invariants, per folio f of order &gt;= 2 (checked by <see cref="Machine.Validate"/>):
/// <code>
/// f.page[2].DeferredQueue == 0            ⇔ not queued, and then DeferredNext == DeferredPrev == f
/// f.page[2].DeferredQueue == QueuedId     ⇔ linked here: links are neighbours' head PFNs or Nil at the ends
/// f.page[2].DeferredQueue == ScanningId   ⇔ taken off by a running scan, which holds a reference
/// PartiallyMapped(f)                      ⇒ DeferredQueue != 0
/// Length == linked + scanning
/// </code></para>
/// <para>Locking: one spin lock (Linux <c>split_queue_lock</c>) around every change of links,
/// <see cref="Length"/> and the PartiallyMapped flag.</para>
/// </remarks>
public sealed unsafe class DeferredSplitQueue
{
    /// <summary>page[2].DeferredQueue of a folio linked on this queue.</summary>
    internal const ulong QueuedId = 1;

    /// <summary>page[2].DeferredQueue of a folio a scan has taken off the queue and holds.</summary>
    internal const ulong ScanningId = 2;

    private readonly PageDescriptor* _pages;
    private readonly MthpStats _stats;
    private readonly VmEvents _events;
    private readonly int _arenaId;
    private RawSpinLock _lock;
    private uint _first = PageDescriptor.Nil;
    private uint _last = PageDescriptor.Nil;
    private long _length;

    internal DeferredSplitQueue(Arena arena, MthpStats stats, VmEvents events)
    {
        _pages = arena.Pages;
        _stats = stats;
        _events = events;
        _arenaId = arena.Id;
    }

    /// <summary>Folios on the queue, those a running scan holds included (Linux <c>split_queue_len</c>).</summary>
    public long Length => System.Threading.Volatile.Read(ref _length);

    internal ref RawSpinLock Lock => ref _lock;

    internal uint First => _first;

    /// <summary>
    /// Linux <c>deferred_split_folio</c>: queues the folio headed at <paramref name="pfn"/> unless it
    /// is already queued; with <paramref name="partiallyMapped"/>, flags it partially mapped and
    /// counts <c>split_deferred</c> and <c>nr_anon_partially_mapped</c> the first time.
    /// </summary>
    internal void Queue(uint pfn, int order, bool partiallyMapped)
    {
        // Order-1 folios have no page[2] of their own; Linux returns early the same way.
        if (order <= 1)
            return;

        PageDescriptor* head = _pages + pfn;
        _lock.Enter();
        bool newlyPartial = partiallyMapped && (head[1].Flags & (ulong)FolioFlags.PartiallyMapped) == 0;
        if (newlyPartial)
        {
            head[1].Flags |= (ulong)FolioFlags.PartiallyMapped;
            if (order >= PageGeometry.PmdOrder)
                _events.Count(VmEvent.ThpDeferredSplitPage);
            _stats.Count(order, MthpStatItem.SplitDeferred);
            _stats.Add(order, MthpStatItem.NrAnonPartiallyMapped, 1);
        }

        bool queued = head[2].DeferredQueue == 0;
        if (queued)
        {
            LinkLastLocked(pfn);
            _length++;
        }

        _lock.Exit();

        // A PMD THP is queued when it is mapped (underused); its partial unmapping later is news too.
        if ((queued || newlyPartial) && FaultPathEventSource.IsOn)
            FaultPathEventSource.Log.DeferredSplitQueued(_arenaId, pfn, order, partiallyMapped);
    }

    /// <summary>
    /// Linux <c>__folio_unqueue_deferred_split</c>: takes the folio off the queue (or out of a scan's
    /// hands) and clears PartiallyMapped, giving back its <c>nr_anon_partially_mapped</c>.
    /// </summary>
    /// <returns>True when the folio was queued.</returns>
    internal bool Unqueue(uint pfn, int order)
    {
        PageDescriptor* head = _pages + pfn;
        if (order <= 1 || head[2].DeferredQueue == 0)
            return false;

        _lock.Enter();
        bool queued = UnqueueLocked(pfn, order);
        _lock.Exit();
        return queued;
    }

    internal bool UnqueueLocked(uint pfn, int order)
    {
        if (order <= 1)
            return false;
        PageDescriptor* head = _pages + pfn;
        ulong queue = head[2].DeferredQueue;
        if (queue == 0)
            return false;
        if (queue == QueuedId)
            UnlinkLocked(pfn);
        else
            MakeEmpty(pfn);
        _length--;
        ClearPartiallyMappedLocked(pfn, order);
        return true;
    }

    internal void ClearPartiallyMappedLocked(uint pfn, int order)
    {
        PageDescriptor* second = _pages + pfn + 1;
        if ((second->Flags & (ulong)FolioFlags.PartiallyMapped) != 0)
        {
            second->Flags &= ~(ulong)FolioFlags.PartiallyMapped;
            _stats.Add(order, MthpStatItem.NrAnonPartiallyMapped, -1);
        }
    }

    /// <summary>Moves a linked folio into a scan's hands (Linux <c>list_move</c> to the scan's local list).</summary>
    internal void TakeForScanLocked(uint pfn)
    {
        UnlinkLocked(pfn);
        _pages[pfn + 2].DeferredQueue = ScanningId;
    }

    /// <summary>Drops a folio the scan holds from the count, leaving it unqueued (Linux's <c>removed++</c>).</summary>
    internal void ForgetScannedLocked(uint pfn)
    {
        Debug.Assert(_pages[pfn + 2].DeferredQueue == ScanningId, "forgetting a folio the scan does not hold");
        MakeEmpty(pfn);
        _length--;
    }

    /// <summary>Puts a folio the scan held back at the tail (Linux <c>list_splice_tail</c>).</summary>
    internal void RequeueScannedLocked(uint pfn)
    {
        Debug.Assert(_pages[pfn + 2].DeferredQueue == ScanningId, "requeueing a folio the scan does not hold");
        LinkLastLocked(pfn);
    }

    private void LinkLastLocked(uint pfn)
    {
        PageDescriptor* third = _pages + pfn + 2;
        third->DeferredQueue = QueuedId;
        third->DeferredPrev = _last;
        third->DeferredNext = PageDescriptor.Nil;
        if (_last == PageDescriptor.Nil)
            _first = pfn;
        else
            _pages[_last + 2].DeferredNext = pfn;
        _last = pfn;
    }

    private void UnlinkLocked(uint pfn)
    {
        PageDescriptor* third = _pages + pfn + 2;
        uint next = third->DeferredNext;
        uint prev = third->DeferredPrev;
        if (prev == PageDescriptor.Nil)
            _first = next;
        else
            _pages[prev + 2].DeferredNext = next;
        if (next == PageDescriptor.Nil)
            _last = prev;
        else
            _pages[next + 2].DeferredPrev = prev;
        MakeEmpty(pfn);
    }

    private void MakeEmpty(uint pfn)
    {
        PageDescriptor* third = _pages + pfn + 2;
        third->DeferredNext = pfn;
        third->DeferredPrev = pfn;
        third->DeferredQueue = 0;
    }

    /// <summary>Checks the links and the length; the caller stops every other user of the queue.</summary>
    internal void Validate(int scanning)
    {
        long linked = 0;
        uint prev = PageDescriptor.Nil;
        for (uint pfn = _first; pfn != PageDescriptor.Nil; pfn = _pages[pfn + 2].DeferredNext)
        {
            PageDescriptor* head = _pages + pfn;
            if (head[2].DeferredQueue != QueuedId || head[2].DeferredPrev != prev)
                throw new FaultPathCorruptionException($"Deferred-split queue: the folio at PFN 0x{pfn:x} has queue word {head[2].DeferredQueue} and previous link 0x{head[2].DeferredPrev:x}; expected {QueuedId} and 0x{prev:x}.");
            if (!head->IsHead || (head[1].Flags & (ulong)FolioFlags.LargeRmappable) == 0 || head[1].FolioOrder < 2)
                throw new FaultPathCorruptionException($"Deferred-split queue: the page at PFN 0x{pfn:x} is not the head of a large-rmappable folio of order 2 or more.");
            prev = pfn;
            if (++linked > _length)
                throw new FaultPathCorruptionException($"Deferred-split queue: more than {_length} folios linked (a cycle?).");
        }

        if (prev != _last)
            throw new FaultPathCorruptionException($"Deferred-split queue: the last linked folio is PFN 0x{prev:x}; the queue says 0x{_last:x}.");
        if (linked + scanning != _length)
            throw new FaultPathCorruptionException($"Deferred-split queue: {linked} linked and {scanning} being scanned, but the length says {_length}.");
    }
}
