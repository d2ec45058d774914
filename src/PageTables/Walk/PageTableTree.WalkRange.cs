namespace LargeFolios.PageTables;

/// <summary>The range walker (Linux <c>walk_page_range</c>, mm/pagewalk.c).</summary>
public sealed unsafe partial class PageTableTree
{
    /// <summary>
    /// Walks [<paramref name="start"/>, <paramref name="end"/>) and shows every entry to
    /// <paramref name="visitor"/> (Linux <c>walk_page_range</c> with its <c>mm_walk_ops</c>): each PMD
    /// entry that is a leaf or a table to <see cref="IPageWalkVisitor.PmdEntry"/>, the PTEs under a
    /// table it answers <see cref="WalkAction.Subtree"/> for to <see cref="IPageWalkVisitor.PteRange"/>,
    /// and every span with no table, or a none PMD entry, to <see cref="IPageWalkVisitor.PteHole"/>.
    /// </summary>
    /// <remarks>
    /// <para>The walk goes down once per table, not once per entry: each level's loop reads its
    /// table's entries in order and descends into the next level for the part of the range under
    /// each, so a walk of n MiB costs n/2 PMD entries and one descent per 1 GiB. An answer of
    /// <see cref="WalkAction.Again"/> reads the same entry again and visits it as it is now (a leaf the
    /// visitor split is walked as its PTE table; a hole it faulted in, as whatever the fault left).</para>
    /// <para>No lock is taken and the entries are read with single loads: the caller holds the
    /// address space's lock (either side), which keeps every table of the range from being freed
    /// under the walk, and a visitor re-checks an entry under its table's lock before it changes it.</para>
    /// </remarks>
    /// <exception cref="BadAddressException">The range is empty, unaligned, or leaves user space.</exception>
    /// <exception cref="System.ObjectDisposedException">The tables have been torn down.</exception>
    public void WalkRange<TVisitor>(ulong start, ulong end, ref TVisitor visitor)
        where TVisitor : struct, IPageWalkVisitor
    {
        ThrowIfDisposed();
        AddressChecks.CheckRange(start, end - start, "walk the page tables");
        Pte* pgd = EntriesOf(_pgd);
        ulong address = start;
        while (address != end)
        {
            ulong next = NextBoundary(address, VirtualAddress.PgdShift, end);
            Pte entry = Read(pgd + VirtualAddress.PgdIndex(address));
            if (entry.IsTable)
                WalkPudTable((uint)entry.Pfn, address, next, ref visitor);
            else if (visitor.PteHole(address, next, PageTableLevel.Pgd) == WalkAction.Again)
                continue;
            address = next;
        }
    }

    private void WalkPudTable<TVisitor>(uint pudTable, ulong address, ulong end, ref TVisitor visitor)
        where TVisitor : struct, IPageWalkVisitor
    {
        Pte* puds = EntriesOf(pudTable);
        while (address != end)
        {
            ulong next = NextBoundary(address, VirtualAddress.PudShift, end);
            Pte entry = Read(puds + VirtualAddress.PudIndex(address));
            if (entry.IsTable)
                WalkPmdTable((uint)entry.Pfn, address, next, ref visitor);
            else if (visitor.PteHole(address, next, PageTableLevel.Pud) == WalkAction.Again)
                continue;
            address = next;
        }
    }

    private void WalkPmdTable<TVisitor>(uint pmdTable, ulong address, ulong end, ref TVisitor visitor)
        where TVisitor : struct, IPageWalkVisitor
    {
        Pte* pmds = EntriesOf(pmdTable);
        while (address != end)
        {
            ulong next = NextBoundary(address, VirtualAddress.PmdShift, end);
            Pte* slot = pmds + VirtualAddress.PmdIndex(address);
            Pte entry = Read(slot);
            WalkAction action;
            if (entry.IsNone)
            {
                action = visitor.PteHole(address, next, PageTableLevel.Pmd);
            }
            else
            {
                var pmd = new PmdSlot(pmdTable, slot, entry, address);
                action = visitor.PmdEntry(in pmd, address, next);
                if (action == WalkAction.Subtree && entry.IsTable)
                    action = visitor.PteRange(in pmd, TableAt((uint)entry.Pfn), address, next);
            }

            if (action != WalkAction.Again)
                address = next;
        }
    }
}
