using System.Diagnostics;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>Splitting a PMD mapping into PTEs (Linux <c>__split_huge_pmd</c>).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Linux <c>__split_huge_pmd</c> (not freezing): the PMD leaf over <paramref name="haddr"/>
    /// becomes a PTE table mapping the same pages. For a THP, under the PMD lock, the folio gains
    /// 511 references and its rmap moves from the PMD to 512 PTEs (<c>folio_add_anon_rmap_ptes</c>
    /// then <c>folio_remove_rmap_pmd</c>); the huge zero page becomes 512 zero-page PTEs.
    /// </summary>
    internal PmdSplitResult SplitHugePmd(ulong haddr) =>
        _tables.FindPmd(haddr, allocate: false, out PmdSlot pmd) == WalkResult.Table ? SplitHugePmd(in pmd) : PmdSplitResult.NotLeaf;

    /// <summary><see cref="SplitHugePmd(ulong)"/> of an entry a walk found.</summary>
    private PmdSplitResult SplitHugePmd(in PmdSlot pmd)
    {
        var hook = new PmdRmapHook(this);
        PmdSplitResult result = _tables.SplitPmdLeaf(in pmd, ZeroPteLike(pmd.Value), ref hook);   // the tables' provider writes PmdSplit
        if (result == PmdSplitResult.Split)
            _events.Count(VmEvent.ThpSplitPmd);
        return result;
    }

    /// <summary>The rmap half of a PMD split, run under the PMD lock before the PTEs are published.</summary>
    private readonly struct PmdRmapHook(AddressSpace space) : IPmdSplitHook
    {
        public void BeforePublish(Pte leaf)
        {
            if (leaf.IsSpecial)
                return;
            PageDescriptor* head = space._pages + (uint)leaf.Pfn;
            if (leaf.IsDirty)
                Interlocked.Or(ref head->Flags, (ulong)PageFlags.Dirty);   // folio_set_dirty: the PMD's dirt moves to the folio
            bool exclusive = (head->Flags & (ulong)PageFlags.AnonExclusive) != 0;
            Interlocked.Add(ref head->Refcount, (1 << PageGeometry.PmdOrder) - 1);
            AnonRmap.AddPtes(head, PageGeometry.PmdOrder, 0, 1 << PageGeometry.PmdOrder, space._id, exclusive);
            bool partially = AnonRmap.RemovePmd(head, PageGeometry.PmdOrder, space._id);
            Debug.Assert(!partially, "a PMD split leaves every page mapped");
        }
    }
}
