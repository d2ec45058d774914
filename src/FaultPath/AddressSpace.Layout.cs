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
        var runs = new List<LayoutRun>();
        var run = new RunBuilder(runs);
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        foreach (Vma vma in _vmas)
        {
            ulong address = vma.Start;
            while (address < vma.End)
            {
                ulong next = System.Math.Min(VirtualAddress.PmdAlignDown(address) + VirtualAddress.PmdSize, vma.End);
                Pte pmd = _tables.ReadPmd(address);
                if (pmd.IsLeafPmd)
                {
                    for (ulong va = address; va < next; va += PageGeometry.PageSize)
                    {
                        ulong pfn = pmd.Pfn + (ulong)VirtualAddress.PteIndex(va);
                        if (pmd.IsSpecial)
                            run.AddZero(va, (uint)pmd.Pfn);
                        else
                            run.AddPage(va, (uint)pfn, PageGeometry.PmdOrder, (uint)pmd.Pfn);
                    }
                }
                else if (pmd.IsTable && _tables.Walk(address, allocate: false, out PteTable table) == WalkResult.Table)
                {
                    Pte* slot = table.At(address);
                    for (ulong va = address; va < next; va += PageGeometry.PageSize, slot++)
                    {
                        Pte pte = *slot;
                        if (!pte.IsPresent)
                        {
                            run.Break();
                            continue;
                        }

                        uint pfn = (uint)pte.Pfn;
                        if (pte.IsSpecial)
                        {
                            run.AddZero(va, pfn);
                            continue;
                        }

                        uint head = AnonRmap.HeadOf(_pages, pfn, out int order);
                        run.AddPage(va, pfn, order, head);
                    }
                }
                else
                {
                    run.Break();
                }

                address = next;
            }
        }

        run.Break();
        return runs;
    }

    /// <summary>The layout as <c>dump</c> prints it: one run per line, then <c>end</c>.</summary>
    public string FormatLayout()
    {
        var text = new StringBuilder();
        foreach (LayoutRun run in GetLayout())
            text.Append(run.ToString()).Append('\n');
        return text.Append("end\n").ToString();
    }

    /// <summary>Accumulates pages into maximal runs.</summary>
    private struct RunBuilder(List<LayoutRun> runs)
    {
        private ulong _start;
        private long _pages;
        private int _order;
        private uint _firstPfn;
        private uint _head;
        private ulong _nextVa;
        private uint _nextPfn;

        public void AddZero(ulong va, uint pfn)
        {
            if (_pages > 0 && _order < 0 && va == _nextVa)
            {
                _pages++;
                _nextVa += PageGeometry.PageSize;
                return;
            }

            Start(va, pfn, -1, PageDescriptor.Nil);
        }

        public void AddPage(ulong va, uint pfn, int order, uint head)
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

        public void Break()
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
