using System;
using System.Diagnostics.Tracing;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>Statistics (allocation and free counts, /proc/buddyinfo, free-area trace snapshots) and the whole-arena check.</summary>
public sealed unsafe partial class Arena
{
    /// <summary>
    /// Folios this arena has handed out since it was created (Linux <c>pgalloc</c>, counted per
    /// folio): the per-CPU sets' counts plus the buddy core's. A racy sum, as vmstat's.
    /// </summary>
    public long Allocations => SumCounters(allocations: true);

    /// <summary>Folios freed into this arena since it was created (Linux <c>pgfree</c>, per folio); racy, as <see cref="Allocations"/>.</summary>
    public long Frees => SumCounters(allocations: false);

    private long SumCounters(bool allocations)
    {
        ThrowIfDisposed();
        long sum = Volatile.Read(ref allocations ? ref _zone.Allocations : ref _zone.Frees);
        for (int cpu = 0; cpu <= _perCpuMask; cpu++)
            sum += Volatile.Read(ref allocations ? ref _perCpu[cpu].Allocations : ref _perCpu[cpu].Frees);
        return sum;
    }

    /// <summary>
    /// Writes the buddy core's free blocks per order as one <c>BuddyFreeArea</c> event per order,
    /// all with one snapshot number, when a session listens (a trace's /proc/buddyinfo over time).
    /// Every arena writes one when a session enables the provider.
    /// </summary>
    public void TraceFreeAreas() => TraceFreeAreas(AllocatorEventSource.Log);

    /// <summary>
    /// <see cref="TraceFreeAreas()"/> through <paramref name="log"/>: the provider's enable command
    /// can arrive inside its own constructor (a session that was already running), before
    /// <see cref="AllocatorEventSource.Log"/> is assigned.
    /// </summary>
    internal void TraceFreeAreas(AllocatorEventSource log)
    {
        if (!AllocatorEventSource.IsOn || !log.IsEnabled(EventLevel.Informational, AllocatorEventSource.Keywords.Buddy) || IsDisposed)
            return;
        BuddyInfo info;
        try
        {
            info = GetBuddyInfo();
        }
        catch (ObjectDisposedException)
        {
            return;   // disposed on another thread since the check
        }

        long snapshot = Interlocked.Increment(ref s_freeAreaSnapshots);
        for (int order = 0; order <= info.MaxOrder; order++)
            log.BuddyFreeArea(_id, snapshot, order, info.FreeBlocks(order));
    }

    private static long s_freeAreaSnapshots;

    /// <summary>A consistent snapshot of the buddy core's free blocks per order (taken under the zone lock).</summary>
    public BuddyInfo GetBuddyInfo()
    {
        ThrowIfDisposed();
        var freeBlocks = new long[_maxOrder + 1];
        _zone.Lock.Enter();
        for (int order = 0; order <= _maxOrder; order++)
            freeBlocks[order] = _zone.NrFree(order);
        _zone.Lock.Exit();
        return new BuddyInfo(freeBlocks);
    }

    /// <summary>
    /// Walks the whole arena and checks every invariant: free lists against descriptors, per-CPU
    /// lists, alignment, no overlap, the layout of every live folio, and free + cached + live ==
    /// total. Takes every lock; no other thread may allocate, free or split meanwhile.
    /// </summary>
    /// <exception cref="ArenaCorruptionException">An invariant is broken; the message names the PFN.</exception>
    public void Validate()
    {
        ThrowIfDisposed();
        ArenaValidator.Validate(this);
    }
}
