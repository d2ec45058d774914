using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>The per-CPU caches: draining them to the buddy core (Linux <c>free_pcppages_bulk</c>, <c>drain_all_pages</c>).</summary>
public sealed unsafe partial class Arena
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DrainAndUnlock(PerCpuPages* pcp, int order)
    {
        int drained = DrainLocked(pcp, order, all: false);
        pcp->Lock.Exit();
        if (AllocatorEventSource.IsOn)
            AllocatorEventSource.Log.PerCpuDrain(_id, CurrentCpu.Id & _perCpuMask, drained);
    }

    /// <summary>
    /// Returns every block held by every per-CPU cache to the buddy core, where they merge (Linux
    /// <c>drain_all_pages</c>). After it, with no folio live, the buddy core holds the whole arena
    /// as max-order blocks.
    /// </summary>
    public void DrainPerCpuCaches()
    {
        ThrowIfDisposed();
        for (int cpu = 0; cpu <= _perCpuMask; cpu++)
        {
            PerCpuPages* pcp = _perCpu + cpu;
            pcp->Lock.Enter();
            int drained = pcp->Count > 0 ? DrainLocked(pcp, 0, all: true) : 0;
            pcp->Lock.Exit();
            if (drained > 0 && AllocatorEventSource.IsOn)
                AllocatorEventSource.Log.PerCpuDrain(_id, cpu, drained);
        }
    }

    /// <summary>
    /// Moves blocks from a per-CPU set to the buddy core (Linux <c>free_pcppages_bulk</c>): at
    /// least a batch of pages, the coldest (list tail) first, beginning with the list of
    /// <paramref name="startOrder"/> and moving round-robin to the next non-empty list; repeated
    /// until the set is below its high watermark, or empty when <paramref name="all"/>. Tails are
    /// cleared under the set's lock only; the zone lock covers just the merges.
    /// </summary>
    /// <returns>The pages moved.</returns>
    private int DrainLocked(PerCpuPages* pcp, int startOrder, bool all)
    {
        Debug.Assert(pcp->Lock.IsHeld);
        int before = pcp->Count;
        uint* pfns = stackalloc uint[MaxBlocksPerBatch];
        byte* orders = stackalloc byte[MaxBlocksPerBatch];
        int order = startOrder;

        while (all ? pcp->Count > 0 : pcp->Count >= pcp->High)
        {
            int toFree = pcp->Batch;
            int taken = 0;
            while (taken < MaxBlocksPerBatch && pcp->Count > 0 && (all || toFree > 0))
            {
                while (pcp->Lists[order].IsEmpty)
                    order = order == PageGeometry.PmdOrder ? 0 : order + 1;

                uint pfn = pcp->Lists[order].RemoveTail(_pages);
                pcp->Count -= 1 << order;
                toFree -= 1 << order;
                pfns[taken] = pfn;
                orders[taken] = (byte)order;
                taken++;
            }

            for (int i = 0; i < taken; i++)
            {
                PageDescriptor* head = _pages + pfns[i];
                CompoundPage.ClearTails(head, orders[i]);
                *head = PageDescriptor.Pristine;
            }

            _zone.Lock.Enter();
            for (int i = 0; i < taken; i++)
                _zone.FreeOneLocked(pfns[i], orders[i]);
            _zone.Lock.Exit();
        }

        DebugVm.CheckPerCpuSetLocked(this, pcp);
        return before - pcp->Count;
    }
}
