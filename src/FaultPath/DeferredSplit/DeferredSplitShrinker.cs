using System.Collections.Generic;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.FaultPath;

/// <summary>
/// The deferred-split shrinker (Linux <c>deferred_split_scan</c>, mm/huge_memory.c): takes folios off
/// the queue with a reference each, splits the partially mapped ones and the underused PMD THPs,
/// and puts back what it could not split.
/// </summary>
/// <remarks>
/// Two phases, as in Linux: under the queue's lock, every folio scanned gets a reference (or, if its
/// last reference is going, is dropped from the queue for the freer to find unqueued) and moves to a
/// private list; then, with no lock held, each is split through the address space that maps it, and
/// one the split left is requeued (still partially mapped) or forgotten. The reference is what keeps
/// a folio from being freed, and a split from freezing it, while the scan holds it.
/// </remarks>
internal sealed unsafe class DeferredSplitShrinker(Machine machine)
{
    private readonly Arena _arena = machine.Arena;
    private readonly PageDescriptor* _pages = machine.Pages;
    private readonly DeferredSplitQueue _queue = machine.DeferredSplitQueue;

    /// <summary>One scan over at most <paramref name="nrToScan"/> queued folios.</summary>
    /// <returns>How many folios were split.</returns>
    public long Scan(long nrToScan)
    {
        List<uint> taken = TakeQueued(nrToScan);
        long split = 0;
        long forgotten = 0;
        foreach (uint pfn in taken)
        {
            PageDescriptor* head = _pages + pfn;
            int order = head[1].FolioOrder;
            bool partially = (head[1].Flags & (ulong)FolioFlags.PartiallyMapped) != 0;
            bool underused = !partially && IsUnderused(pfn, order);
            bool didSplit = (partially || underused) && TrySplit(pfn, order);
            if (didSplit)
            {
                split++;
                if (underused)
                    machine.Events.Count(VmEvent.ThpUnderusedSplitPage);
            }
            else if (!PutBack(pfn))
            {
                forgotten++;
            }

            machine.ReleaseFolioAt(pfn, 1);
        }

        if (FaultPathEventSource.IsOn)
            FaultPathEventSource.Log.DeferredSplitScan(_arena.Id, taken.Count, split, taken.Count - split - forgotten, _queue.Length);
        return split;
    }

    /// <summary>The first phase: up to <paramref name="nrToScan"/> folios off the queue, each with a reference.</summary>
    private List<uint> TakeQueued(long nrToScan)
    {
        var taken = new List<uint>();
        _queue.Lock.Enter();
        for (uint pfn = _queue.First; pfn != PageDescriptor.Nil && nrToScan > 0; nrToScan--)
        {
            uint next = _pages[pfn + 2].DeferredNext;
            if (_arena.TryGetReference(pfn))
            {
                _queue.TakeForScanLocked(pfn);
                taken.Add(pfn);
            }
            else
            {
                // Lost a race with the last put: the freer finds it unqueued.
                _queue.UnqueueLocked(pfn, _pages[pfn + 1].FolioOrder);
            }

            pfn = next;
        }

        _queue.Lock.Exit();
        return taken;
    }

    /// <summary>Splits a taken folio to order 0, in every process that maps it (<see cref="Machine.SplitFolio"/>).</summary>
    private bool TrySplit(uint pfn, int order) =>
        machine.SplitFolio(_arena.HandleOf(pfn, order), 0, uint.MaxValue, lockHolder: null) == SplitOutcome.Split;

    /// <summary>A folio the scan did not split: back on the queue while partially mapped, else off it for good.</summary>
    /// <returns>True when it was requeued.</returns>
    private bool PutBack(uint pfn)
    {
        _queue.Lock.Enter();
        bool requeue = (_pages[pfn + 1].Flags & (ulong)FolioFlags.PartiallyMapped) != 0;
        if (requeue)
            _queue.RequeueScannedLocked(pfn);
        else
            _queue.ForgetScannedLocked(pfn);
        _queue.Lock.Exit();
        return requeue;
    }

    /// <summary>Linux <c>thp_underused</c>: more than max_ptes_none zero-filled pages in a PMD THP.</summary>
    private bool IsUnderused(uint pfn, int order)
    {
        int maxNone = machine.Policy.MaxPtesNone;
        int nr = 1 << order;
        if (order < PageGeometry.PmdOrder || maxNone == nr - 1)
            return false;
        PageContents contents = machine.Contents;
        int zero = 0;
        int filled = 0;
        for (int i = 0; i < nr; i++)
        {
            if (contents.IsZeroFilled(pfn + (uint)i))
            {
                if (++zero > maxNone)
                    return true;
            }
            else if (++filled >= nr - maxNone)
            {
                return false;
            }
        }

        return false;
    }
}
