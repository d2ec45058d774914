using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>MADV_POPULATE_READ / MADV_POPULATE_WRITE (Linux <c>madvise_populate</c>).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Faults in [<paramref name="start"/>, <paramref name="end"/>) as <c>faultin_page_range</c>
    /// does: page by page, a page already mapped as the access needs is skipped (GUP's
    /// <c>follow_page</c>), any other takes the fault a load or store would take
    /// (<c>handle_mm_fault</c>), so the folio orders, zero pages and counters are those of touching
    /// each page in turn. Each VMA is one range walk (<see cref="PopulateVisitor"/>), so the walk
    /// keeps its place in the page tables: one PTE read per page already mapped, a fault handled
    /// at the PTE level straight in the table it found; the faults' counters are added once at the end.
    /// </summary>
    /// <returns>False when it reached a page no VMA covers (-ENOMEM); true when it populated everything.</returns>
    private bool PopulateLocked(ulong start, ulong end, bool write)
    {
        var populate = new PopulateVisitor(this, write);
        try
        {
            ulong address = start;
            while (address < end)
            {
                if (!_vmas.TryFind(address, out Vma vma))
                {
                    if (address == start)
                        throw NothingMapped(start, end - start);   // nothing populated: the call changed nothing
                    return false;
                }

                // GUP's check_vma_flags: no FOLL_FORCE, so a read needs VM_READ, a write VM_WRITE.
                if ((vma.Flags & (write ? VmaFlags.Write : VmaFlags.Read)) == 0)
                {
                    throw new SyscallException(
                        $"Cannot populate 0x{address:x} for {(write ? "writing" : "reading")}: the VMA 0x{vma.Start:x}..0x{vma.End:x} does not allow it ({vma.Flags}); the pages before it were populated (Linux: -EINVAL).",
                        Errno.EINVAL,
                        address);
                }

                ulong vmaEnd = Math.Min(vma.End, end);
                populate.Vma = vma;
                _tables.WalkRange(address, vmaEnd, ref populate);
                address = vmaEnd;
            }

            return true;
        }
        finally
        {
            populate.Flush();
        }
    }

    /// <summary>
    /// The populate's visitor: a hole or a leaf that does not allow the access takes the whole fault
    /// path (which installs the tables, maps the page, and may leave a PMD leaf), then the walk
    /// reads the entry again; under a PTE table every page not mapped as needed takes
    /// <c>handle_pte_fault</c> there, the mmap read lock keeping the table installed (only the
    /// write side frees tables), so nothing is walked twice.
    /// </summary>
    private struct PopulateVisitor(AddressSpace space, bool write) : IPageWalkVisitor
    {
        private readonly ulong _needed = (ulong)(write ? PteFlags.Present | PteFlags.Write : PteFlags.Present);
        private readonly bool _traced = FaultPathEventSource.IsOn;   // once per call: a session that starts midway sees the next populate
        private FaultResult _last;
        private int _repeats;

        /// <summary>The VMA being walked.</summary>
        public Vma Vma;

        public readonly FaultAccess Access => write ? FaultAccess.Write : FaultAccess.Read;

        public WalkAction PteHole(ulong address, ulong limit, PageTableLevel level)
        {
            FaultIn(address);
            return WalkAction.Again;
        }

        public WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit)
        {
            Pte entry = pmd.Value;
            if (entry.IsTable)
                return WalkAction.Subtree;
            if (!write || entry.IsWritable)
                return WalkAction.Continue;   // a leaf that allows the access
            FaultIn(address);                 // a store to the huge zero page: a THP, or its PTEs
            return WalkAction.Again;
        }

        public WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit)
        {
            Pte* slot = table.Slot(address);
            for (; address < limit; address += PageGeometry.PageSize, slot++)
            {
                if ((slot->Value & _needed) == _needed)
                    continue;
                if (_traced)
                    space.TraceFaultStart(address, write);
                FaultResult result;
                while (space.HandlePte(Vma, address, write, table, out result) == FaultOutcome.Retry)
                {
                }

                if (_traced)
                    space.TraceFaultStop(address, result);
                Count(address, result);
                if ((slot->Value & _needed) != _needed)
                    return WalkAction.Again;   // the entry changed under the fault: take it as it is now
            }

            return WalkAction.Continue;
        }

        /// <summary>Adds the populate's faults to the counters (once: a run of equal results is one add).</summary>
        public void Flush()
        {
            if (_repeats > 0)
                space.Account(_last, _repeats);
            _repeats = 0;
        }

        /// <summary>The whole fault path for one page (<c>handle_mm_fault</c>).</summary>
        private void FaultIn(ulong address)
        {
            if (_traced)
                space.TraceFaultStart(address, write);
            FaultResult result = space.HandleMmFaultRetrying(Vma, address, write);
            if (_traced)
                space.TraceFaultStop(address, result);
            Count(address, result);
        }

        private void Count(ulong address, FaultResult result)
        {
            if (result.Kind == FaultKind.OutOfMemory)
                ThrowOutOfMemory(address);
            if (_repeats > 0 && result == _last)
            {
                _repeats++;
                return;
            }

            Flush();
            _repeats = 1;
            _last = result;
        }
    }
}
