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
    /// each page in turn. The walk keeps its place in the page tables: one descent per 2 MiB, one
    /// PTE read per page already mapped; the faults' counters are added once at the end.
    /// </summary>
    /// <returns>False when it reached a page no VMA covers (-ENOMEM); true when it populated everything.</returns>
    private bool PopulateLocked(ulong start, ulong end, bool write)
    {
        FaultAccess access = write ? FaultAccess.Write : FaultAccess.Read;
        PteFlags needed = write ? PteFlags.Present | PteFlags.Write : PteFlags.Present;
        var tally = new FaultTally();
        bool traced = LargeFoliosEventSource.IsOn;   // once per call: a session that starts midway sees the next populate
        try
        {
            ulong address = start;
            while (address < end)
            {
                if (!_vmas.TryFind(address, out Vma vma))
                    return false;
                // GUP's check_vma_flags: no FOLL_FORCE, so a read needs VM_READ, a write VM_WRITE.
                if ((vma.Flags & (write ? VmaFlags.Write : VmaFlags.Read)) == 0)
                    ThrowSegmentationFault(address, access, $"populating the VMA 0x{vma.Start:x}..0x{vma.End:x} needs an access it does not allow ({vma.Flags}) (Linux: -EFAULT)");

                ulong vmaEnd = Math.Min(vma.End, end);
                while (address < vmaEnd)
                {
                    ulong next = Math.Min(VirtualAddress.PmdAlignDown(address) + VirtualAddress.PmdSize, vmaEnd);
                    if (_tables.FindPmdEntry(address, allocate: false, out uint pmdTable, out Pte* pmdEntry) == WalkResult.Table)
                    {
                        Pte pmd = *pmdEntry;
                        if (pmd.IsLeafPmd && (!write || pmd.IsWritable))
                        {
                            address = next;
                            continue;
                        }

                        if (pmd.IsTable && _tables.PteTableOf(pmdTable, pmdEntry, allocate: false, out PteTable table) == WalkResult.Table)
                        {
                            // The PMD maps a table: every fault below it is handle_pte_fault's.
                            Pte* slot = table.At(address);
                            for (; address < next; address += PageGeometry.PageSize, slot++)
                            {
                                if ((slot->Value & (ulong)needed) == (ulong)needed)
                                    continue;
                                // handle_pte_fault on a table we hold: the mmap read lock keeps it
                                // installed (only the write side frees tables), so no re-walk.
                                FaultResult pte;
                                if (traced)
                                    TraceFaultStart(address, write);
                                do
                                {
                                    Pte current = *slot;
                                    pte = current.IsNone ? DoAnonymousPage(vma, address, write, table)
                                        : write && !current.IsWritable ? DoWpPage(vma, address, table, current)
                                        : new FaultResult(FaultKind.AlreadyMapped);
                                }
                                while (pte.Kind < 0);

                                if (traced)
                                    TraceFaultStop(address, pte);
                                if (pte.Kind == FaultKind.OutOfMemory)
                                    ThrowOutOfMemory(address);
                                tally.Add(this, pte);
                                if ((slot->Value & (ulong)needed) != (ulong)needed)
                                    break;   // the PMD changed under us: take the full path for this page
                            }

                            if (address == next)
                                continue;
                        }
                    }

                    if (traced)
                        TraceFaultStart(address, write);
                    FaultResult result = HandleMmFaultRetrying(vma, address, write);
                    if (traced)
                        TraceFaultStop(address, result);
                    if (result.Kind == FaultKind.OutOfMemory)
                        ThrowOutOfMemory(address);
                    tally.Add(this, result);
                    Pte now = _tables.Lookup(address);
                    if ((now.Value & (ulong)needed) == (ulong)needed)
                        address += PageGeometry.PageSize;
                }
            }

            return true;
        }
        finally
        {
            tally.Flush(this);
        }
    }

    /// <summary>A populate's faults, counted locally and added to the counters once.</summary>
    private struct FaultTally
    {
        private FaultResult _last;
        private int _repeats;

        public void Add(AddressSpace space, FaultResult result)
        {
            if (_repeats > 0 && result == _last)
            {
                _repeats++;
                return;
            }

            Flush(space);
            _repeats = 1;
            _last = result;
        }

        public void Flush(AddressSpace space)
        {
            if (_repeats > 0)
                space.Account(_last, _repeats);
            _repeats = 0;
        }
    }
}
