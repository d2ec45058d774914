using System;
using System.Collections.Generic;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.TestSupport;

/// <summary>An entry a test zap cleared: the first virtual address it mapped and the entry as it was.</summary>
public readonly record struct ZappedEntry(ulong Address, Pte Entry, bool IsPmdLeaf);

/// <summary>
/// The page-table layer's own tests and benchmarks clear mappings with this: a range walk that clears PTEs and
/// whole PMD leaves, splitting a leaf the range covers in part, through the tree's public API. The
/// product's one zap is the fault path's (which also keeps rmap, references and RSS); this one
/// knows nothing of folios, which is what a test of the tables alone wants.
/// </summary>
public static class TableZap
{
    /// <returns>How many entries (PTEs and PMD leaves) were cleared.</returns>
    public static long ZapRange(this PageTableTree tree, ulong start, ulong end, List<ZappedEntry>? zapped)
    {
        var zap = new Visitor(tree, zapped);
        tree.WalkRange(start, end, ref zap);
        return zap.Cleared;
    }

    private struct Visitor(PageTableTree tree, List<ZappedEntry>? zapped) : IPageWalkVisitor
    {
        public long Cleared { get; private set; }

        public readonly WalkAction PteHole(ulong address, ulong limit, PageTableLevel level) => WalkAction.Continue;

        public WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit)
        {
            if (!pmd.Value.IsLeafPmd)
                return WalkAction.Subtree;
            if (pmd.CoversWhole(address, limit))
            {
                Pte old = tree.ClearPmdLeaf(pmd.Start);
                if (!old.IsNone)
                {
                    Cleared++;
                    zapped?.Add(new ZappedEntry(pmd.Start, old, IsPmdLeaf: true));
                }

                return WalkAction.Continue;
            }

            if (tree.SplitPmdLeaf(pmd.Start) == PmdSplitResult.OutOfMemory)
                throw new InsufficientMemoryException($"Cannot split the PMD leaf at 0x{pmd.Start:x}: no page for its PTE table.");
            return WalkAction.Again;
        }

        public WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit)
        {
            table.Lock();
            Span<Pte> slots = table.Slice(address, (int)((limit - address) >> PageGeometry.PageShift));
            for (int i = 0; i < slots.Length; i++)
            {
                Pte old = slots[i];
                if (old.IsNone)
                    continue;
                slots[i] = Pte.None;
                ulong va = address + ((ulong)i << PageGeometry.PageShift);
                Cleared++;
                zapped?.Add(new ZappedEntry(va, old, IsPmdLeaf: false));
            }

            table.Unlock();
            return WalkAction.Continue;
        }
    }
}
