using System.Collections.Generic;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.FaultPath;

/// <summary>
/// The machine-wide invariants: every live anonymous folio is mapped by some live address space; per size, <c>nr_anon</c> equals the live anonymous folios and
/// <c>nr_anon_partially_mapped</c> the ones flagged partially mapped; the deferred-split queue is
/// well linked and holds exactly the folios whose page[2] says so.
/// </summary>
internal static unsafe class MachineValidator
{
    public static void Validate(Machine machine, Dictionary<uint, FolioTally> mapped)
    {
        PageDescriptor* pages = machine.Pages;
        long total = machine.Arena.TotalPages;
        var anon = new long[PageGeometry.PmdOrder + 1];
        var partially = new long[PageGeometry.PmdOrder + 1];
        long queued = 0;
        for (long pfn = 0; pfn < total;)
        {
            PageDescriptor* head = pages + pfn;
            int order = head->IsHead && !head->IsTail ? head[1].FolioOrder : 0;
            if (head->IsTail || head->Refcount <= 0 || head->HasPageType || (head->Mapping & PageDescriptor.MappingAnon) == 0)
            {
                pfn += head->IsTail ? 1 : 1L << order;
                continue;
            }

            if (order > PageGeometry.PmdOrder)
                throw new FaultPathCorruptionException($"The anonymous folio at PFN 0x{pfn:x} has order {order}, above the PMD order.");
            anon[order]++;
            if (!mapped.ContainsKey((uint)pfn))
                throw new FaultPathCorruptionException($"The anonymous folio at PFN 0x{pfn:x} order {order} of anon_vma {head->Mapping >> 1} is alive but no live address space maps it (leaked; its mapcount says {AnonRmap.Mapcount(head, order)}).");
            if (order >= 2)
            {
                if ((head[1].Flags & (ulong)FolioFlags.PartiallyMapped) != 0)
                    partially[order]++;
                if (head[2].DeferredQueue != 0)
                    queued++;
            }

            pfn += 1L << order;
        }

        for (int order = 1; order <= PageGeometry.PmdOrder; order++)
        {
            long counted = machine.MthpStats.Get(order, MthpStatItem.NrAnon);
            if (counted != anon[order])
                throw new FaultPathCorruptionException($"nr_anon of {ThpPolicy.SizeName(order)} is {counted}; {anon[order]} anonymous folios of order {order} are alive.");
            long partial = machine.MthpStats.Get(order, MthpStatItem.NrAnonPartiallyMapped);
            if (partial != partially[order])
                throw new FaultPathCorruptionException($"nr_anon_partially_mapped of {ThpPolicy.SizeName(order)} is {partial}; {partially[order]} folios of order {order} are flagged partially mapped.");
        }

        machine.DeferredSplitQueue.Validate(scanning: 0);
        if (queued != machine.DeferredSplitQueue.Length)
            throw new FaultPathCorruptionException($"{queued} folios say they are on the deferred-split queue; its length is {machine.DeferredSplitQueue.Length}.");
    }
}
