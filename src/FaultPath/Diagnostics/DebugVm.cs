using System.Diagnostics;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// The fault path's expensive checks, compiled in only with the DEBUG_VM symbol
/// (<c>-p:DebugVm=true</c>, Linux's CONFIG_DEBUG_VM, whose <c>VM_BUG_ON_FOLIO</c>s these follow).
/// Each is local, O(folio), and runs under the PTE-table lock the change was made under, so it
/// holds while other threads fault elsewhere. The whole-machine walk is <see cref="Machine.Validate"/>.
/// </summary>
internal static unsafe class DebugVm
{
    /// <summary>Whether this build of the library was compiled with DEBUG_VM.</summary>
    public static bool Enabled =>
#if DEBUG_VM
        true;
#else
        false;
#endif

    /// <summary>
    /// A folio a fault or a split just mapped by PTEs: each of its pages that <paramref name="ptes"/>
    /// maps is mapped at its own PFN, and the folio's counts are exactly those of the pages
    /// mapped there (nothing else maps it while the table lock is held).
    /// </summary>
    [Conditional("DEBUG_VM")]
    public static void CheckPteMappedFolio(PageDescriptor* pages, uint headPfn, int order, Pte* ptes, ulong address)
    {
        PageDescriptor* head = pages + headPfn;
        int nr = 1 << order;
        int mapped = 0;
        int pagesMapped = 0;
        for (int i = 0; i < nr; i++)
        {
            Pte pte = ptes[i];
            bool maps = pte.IsPresent && !pte.IsSpecial && pte.Pfn == headPfn + (ulong)i;
            int expected = maps ? 0 : -1;
            if (head[i].Mapcount != expected)
                throw new FaultPathCorruptionException($"DEBUG_VM: page {i} of the folio at PFN 0x{headPfn:x} order {order} (0x{address + ((ulong)i << 12):x}) has mapcount {head[i].Mapcount}; its PTE {pte} says {expected}.");
            if (maps)
            {
                mapped++;
                pagesMapped++;
            }
        }

        if (head->Refcount < mapped || (head->Mapping & PageDescriptor.MappingAnon) == 0)
            throw new FaultPathCorruptionException($"DEBUG_VM: the folio at PFN 0x{headPfn:x} order {order} is mapped {mapped} times but has refcount {head->Refcount} and mapping 0x{head->Mapping:x}.");
        if (order > 0 && (head[1].LargeMapcount != mapped - 1 || head[1].NrPagesMapped != pagesMapped || head[1].EntireMapcount != -1))
            throw new FaultPathCorruptionException($"DEBUG_VM: the folio at PFN 0x{headPfn:x} order {order} is mapped by {mapped} PTEs but has large_mapcount {head[1].LargeMapcount}, nr_pages_mapped {head[1].NrPagesMapped}, entire_mapcount {head[1].EntireMapcount}.");
    }
}
