using System.Diagnostics;

namespace LargeFolios.PageTables;

/// <summary>
/// The page tables' expensive checks, compiled in only with the DEBUG_VM symbol
/// (<c>-p:DebugVm=true</c>, Linux's CONFIG_DEBUG_VM). Argument checks always throw; Debug.Assert
/// guards lock roles in Debug builds; these walk a whole table (512 entries) at the points where a
/// mistake would otherwise go unseen until much later. The whole-tree walk is
/// <see cref="PageTableTree.Validate"/>.
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
    /// A table about to be freed maps nothing (Linux frees page tables only after the zap; a
    /// table freed with live entries would leak their folios' mappings).
    /// </summary>
    [Conditional("DEBUG_VM")]
    public static void CheckEmptyTable(PageTableTree tree, uint pfn)
    {
        int none = PteScan.CountNone(tree.EntriesOf(pfn), VirtualAddress.EntriesPerTable);
        if (none != VirtualAddress.EntriesPerTable)
            throw new PageTableCorruptionException($"Freeing table page 0x{pfn:x}, whose entry {none} is {tree.EntriesOf(pfn)[none]}; expected every entry none.", 0, pfn);
    }

    /// <summary>A run written by set_ptes or a split maps consecutive PFNs with identical bits.</summary>
    [Conditional("DEBUG_VM")]
    public static void CheckRun(Pte* first, int nr, ulong address)
    {
        for (int i = 1; i < nr; i++)
        {
            if (first[i].Value != first[i - 1].Value + (1UL << 12))
                throw new PageTableCorruptionException($"PTE {i} of the run at 0x{address:x} is {first[i]}, after {first[i - 1]}; expected the next PFN with the same bits.", address, -1);
        }
    }
}
