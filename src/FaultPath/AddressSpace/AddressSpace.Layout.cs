using System.Collections.Generic;
using System.Text;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>The layout dump (the scenario format's <c>dump</c>).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// The mappings in address order as maximal runs: consecutive virtual pages mapping
    /// consecutive pages of one folio, or consecutive zero-page mappings. Unmapped pages end a run.
    /// </summary>
    public IReadOnlyList<LayoutRun> GetLayout()
    {
        ThrowIfDisposed();
        var layout = new LayoutVisitor(_pages, new List<LayoutRun>());
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        foreach (Vma vma in _vmas)
            _tables.WalkRange(vma.Start, vma.End, ref layout);
        return layout.Finish();
    }

    /// <summary>The layout as <c>dump</c> prints it: one run per line, then <c>end</c>.</summary>
    public string FormatLayout()
    {
        var text = new StringBuilder();
        foreach (LayoutRun run in GetLayout())
            text.Append(run.ToString()).Append('\n');
        return text.Append("end\n").ToString();
    }

    /// <summary>The dump's visitor: every mapped page, in address order, into maximal runs; a hole ends a run.</summary>
    private struct LayoutVisitor(PageDescriptor* pages, List<LayoutRun> runs) : IPageWalkVisitor
    {
        private ulong _start;
        private long _pages;
        private int _order;
        private uint _firstPfn;
        private uint _head;
        private ulong _nextVa;
        private uint _nextPfn;

        public WalkAction PteHole(ulong address, ulong limit, PageTableLevel level)
        {
            Break();
            return WalkAction.Continue;
        }

        public WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit)
        {
            Pte leaf = pmd.Value;
            if (!leaf.IsLeafPmd)
                return WalkAction.Subtree;
            for (ulong va = address; va < limit; va += PageGeometry.PageSize)
            {
                if (leaf.IsSpecial)
                    AddZero(va, (uint)leaf.Pfn);
                else
                    AddPage(va, (uint)leaf.Pfn + (uint)VirtualAddress.PteIndex(va), PageGeometry.PmdOrder, (uint)leaf.Pfn);
            }

            return WalkAction.Continue;
        }

        public WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit)
        {
            Pte* slot = table.Slot(address);
            for (ulong va = address; va < limit; va += PageGeometry.PageSize, slot++)
            {
                Pte pte = *slot;
                if (!pte.IsPresent)
                {
                    Break();
                    continue;
                }

                uint pfn = (uint)pte.Pfn;
                if (pte.IsSpecial)
                {
                    AddZero(va, pfn);
                    continue;
                }

                uint head = AnonRmap.HeadOf(pages, pfn, out int order);
                AddPage(va, pfn, order, head);
            }

            return WalkAction.Continue;
        }

        /// <summary>The runs, the last one closed.</summary>
        public List<LayoutRun> Finish()
        {
            Break();
            return runs;
        }

        private void AddZero(ulong va, uint pfn)
        {
            if (_pages > 0 && _order < 0 && va == _nextVa)
            {
                _pages++;
                _nextVa += PageGeometry.PageSize;
                return;
            }

            Start(va, pfn, -1, PageDescriptor.Nil);
        }

        private void AddPage(ulong va, uint pfn, int order, uint head)
        {
            if (_pages > 0 && _order >= 0 && va == _nextVa && pfn == _nextPfn && head == _head)
            {
                _pages++;
                _nextVa += PageGeometry.PageSize;
                _nextPfn++;
                return;
            }

            Start(va, pfn, order, head);
        }

        private void Break()
        {
            if (_pages > 0)
                runs.Add(new LayoutRun(_start, _pages, _order, _firstPfn));
            _pages = 0;
        }

        private void Start(ulong va, uint pfn, int order, uint head)
        {
            Break();
            _start = va;
            _pages = 1;
            _order = order;
            _firstPfn = pfn;
            _head = head;
            _nextVa = va + PageGeometry.PageSize;
            _nextPfn = pfn + 1;
        }
    }
}
