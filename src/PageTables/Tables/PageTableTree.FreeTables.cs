using System.Collections.Generic;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>Freeing page tables: <c>free_pgd_range</c> after an unmap, and an emptied PTE table after MADV_DONTNEED.</summary>
public sealed unsafe partial class PageTableTree
{
    /// <summary>
    /// Linux <c>free_pgd_range</c>: after [<paramref name="start"/>, <paramref name="end"/>) was
    /// unmapped and zapped, frees the PTE tables over it, and the PMD and PUD tables whose whole
    /// span lies between <paramref name="floor"/> (the end of the mapping below, or 0) and
    /// <paramref name="ceiling"/> (the start of the mapping above, or 0 for none), so no table a
    /// neighbour may still use is freed. The caller holds the address space exclusively.
    /// </summary>
    /// <returns>How many table pages were freed.</returns>
    /// <exception cref="BadAddressException">Bad range, or a table to be freed still maps something
    /// (zap it first); nothing changed.</exception>
    public int FreePageTables(ulong start, ulong end, ulong floor, ulong ceiling)
    {
        ThrowIfDisposed();
        AddressChecks.CheckRange(start, end - start, "free page tables");

        // The top of free_pgd_range: round to whole PMDs inside [floor, ceiling).
        ulong addr = start & ~(VirtualAddress.PmdSize - 1);
        if (addr < floor)
        {
            addr += VirtualAddress.PmdSize;
            if (addr == 0)
                return 0;
        }

        if (ceiling != 0)
        {
            ceiling &= ~(VirtualAddress.PmdSize - 1);
            if (ceiling == 0)
                return 0;
        }

        if (end - 1 > ceiling - 1)
            end -= VirtualAddress.PmdSize;
        if (addr > end - 1)
            return 0;

        var plan = new List<(nint Entry, uint Table)>();
        PlanPgdRange(addr, end, floor, ceiling, plan);
        foreach (var (entry, table) in plan)
        {
            Write((Pte*)entry, Pte.None);
            FreeTable(table);
        }

        return plan.Count;
    }

    // Linux free_p4d_range/free_pud_range with p4d folded: visits every PUD table under the range,
    // then frees it only if its 512 GiB span lies inside [floor, ceiling). A table that would still
    // point at a lower table is kept (Linux assumes none can; keeping it leaks nothing).
    private void PlanPgdRange(ulong addr, ulong end, ulong floor, ulong ceiling, List<(nint Entry, uint Table)> plan)
    {
        Pte* pgd = EntriesOf(_pgd);
        for (ulong a = addr; a <= end - 1;)
        {
            ulong next = NextBoundary(a, VirtualAddress.PgdShift, end);
            Pte* entry = pgd + VirtualAddress.PgdIndex(a);
            Pte e = Read(entry);
            if (e.IsTable)
            {
                uint pud = (uint)e.Pfn;
                int freed = PlanPudTable(pud, a, next, floor, ceiling, plan);
                if (SpanInside(a, next, VirtualAddress.PgdShift, floor, ceiling) && freed == UsedEntries(pud))
                    plan.Add(((nint)entry, pud));
            }

            a = next;
        }
    }

    private int PlanPudTable(uint pudTable, ulong addr, ulong end, ulong floor, ulong ceiling, List<(nint Entry, uint Table)> plan)
    {
        Pte* puds = EntriesOf(pudTable);
        int freed = 0;
        for (ulong a = addr; a <= end - 1;)
        {
            ulong next = NextBoundary(a, VirtualAddress.PudShift, end);
            Pte* entry = puds + VirtualAddress.PudIndex(a);
            Pte e = Read(entry);
            if (e.IsTable)
            {
                uint pmd = (uint)e.Pfn;
                int ptes = PlanPmdTable(pmd, a, next, plan);
                if (SpanInside(a, next, VirtualAddress.PudShift, floor, ceiling) && ptes == UsedEntries(pmd))
                {
                    plan.Add(((nint)entry, pmd));
                    freed++;
                }
            }

            a = next;
        }

        return freed;
    }

    // free_pte_range for every PMD entry in [addr, end): each PTE table there must be empty.
    private int PlanPmdTable(uint pmdTable, ulong addr, ulong end, List<(nint Entry, uint Table)> plan)
    {
        Pte* pmds = EntriesOf(pmdTable);
        int freed = 0;
        for (ulong a = addr; a <= end - 1; a = NextBoundary(a, VirtualAddress.PmdShift, end))
        {
            Pte* entry = pmds + VirtualAddress.PmdIndex(a);
            Pte e = Read(entry);
            ulong pmdStart = VirtualAddress.PmdAlignDown(a);
            if (e.IsLeafPmd)
                AddressChecks.Throw($"Cannot free the page tables at 0x{pmdStart:x}: a PMD leaf ({e}) still maps it; expected it zapped first.", pmdStart, 0);
            if (!e.IsTable)
                continue;
            uint pte = (uint)e.Pfn;
            int none = PteScan.CountNone(EntriesOf(pte), VirtualAddress.EntriesPerTable);
            if (none != VirtualAddress.EntriesPerTable)
            {
                ulong mapped = pmdStart + ((ulong)none << PageGeometry.PageShift);
                AddressChecks.Throw($"Cannot free the PTE table at 0x{pmdStart:x}: it still maps 0x{mapped:x} ({Read(EntriesOf(pte) + none)}); expected it zapped first.", mapped, 0);
            }

            plan.Add(((nint)entry, pte));
            freed++;
        }

        return freed;
    }

    private int UsedEntries(uint table)
    {
        Pte* entries = EntriesOf(table);
        int used = 0;
        for (int i = 0; i < VirtualAddress.EntriesPerTable; i++)
            used += entries[i].IsNone ? 0 : 1;
        return used;
    }

    // The bottom of free_pmd_range/free_pud_range: after visiting [addr, end) under one entry of
    // the level above, the table that entry points at is freed only when the whole span of that
    // entry (1 << spanShift bytes) lies inside [floor, ceiling), tested as Linux tests it.
    private static bool SpanInside(ulong addr, ulong end, int spanShift, ulong floor, ulong ceiling)
    {
        ulong mask = ~((1UL << spanShift) - 1);
        if ((addr & mask) < floor)
            return false;
        if (ceiling != 0)
        {
            ceiling &= mask;
            if (ceiling == 0)
                return false;
        }

        return end - 1 <= ceiling - 1;
    }


    /// <summary>
    /// Linux <c>try_to_free_pte</c> (CONFIG_PT_RECLAIM, after MADV_DONTNEED zapped a whole PMD's
    /// range): when the PTE table under <paramref name="address"/>'s PMD entry is all none, clears
    /// the PMD entry and frees the table. The caller holds the address space exclusively, so no
    /// walker still holds the table.
    /// </summary>
    /// <returns>True when a table was freed.</returns>
    /// <exception cref="BadAddressException">The address is not in user space.</exception>
    public bool TryFreeEmptyPteTable(ulong address)
    {
        CheckUserAddress(address, "free an empty PTE table");
        return FindPmd(address, allocate: false, out PmdSlot pmd) == WalkResult.Table && TryFreeEmptyPteTable(in pmd);
    }

    /// <summary><see cref="TryFreeEmptyPteTable(ulong)"/> under an entry a walk found.</summary>
    [LayerInterface]
    internal bool TryFreeEmptyPteTable(in PmdSlot pmd)
    {
        ref RawSpinLock pmdLock = ref TableLock(pmd.TablePfn);
        pmdLock.Enter();
        Pte entry = Read(pmd.Entry);
        if (!entry.IsTable)
        {
            pmdLock.Exit();
            return false;
        }

        uint ptePfn = (uint)entry.Pfn;
        ref RawSpinLock pteLock = ref TableLock(ptePfn);
        pteLock.Enter();
        bool empty = PteScan.AllNone(EntriesOf(ptePfn), VirtualAddress.EntriesPerTable);
        if (empty)
            Write(pmd.Entry, Pte.None);
        pteLock.Exit();
        pmdLock.Exit();
        if (empty)
            FreeTable(ptePfn);
        return empty;
    }
}
