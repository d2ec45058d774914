using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// The whole-tree check behind <see cref="PageTableTree.Validate"/>. Invariants, per level:
/// <list type="bullet">
/// <item>every table is a live order-0 page of the tree's arena (refcount 1, no compound layout),
/// typed PGTY_table, unlocked, and reached exactly once (no table shared or looped);</item>
/// <item>PGD and PUD entries are none or point at a table (no 512 GiB or 1 GiB leaves are modelled);</item>
/// <item>PMD entries are none, a table, or a present leaf whose PFN is 512-page aligned and, unless
/// special, inside the arena;</item>
/// <item>PTEs are none or present, with a PFN inside the arena unless special (no swap entries are modelled);</item>
/// <item>the PTE tables deposited under a PMD table are empty and no more than its leaves;</item>
/// <item>tables reached + tables deposited == <see cref="PageTableTree.TablePages"/>.</item>
/// </list>
/// </summary>
internal static unsafe class PageTableValidator
{
    public static void Validate(PageTableTree tree)
    {
        Arena arena = tree.Arena;
        if (arena.IsDisposed)
            Fail(0, -1, "the arena behind the page tables has been disposed");

        var reached = new HashSet<uint>();
        CheckTable(tree, tree.PgdPfn, 0, "PGD", reached);
        Pte* pgd = tree.EntriesOf(tree.PgdPfn);
        for (int i = 0; i < VirtualAddress.EntriesPerTable; i++)
        {
            ulong pgdAddress = (ulong)i << VirtualAddress.PgdShift;
            Pte e = pgd[i];
            if (e.IsNone)
                continue;
            if (!e.IsTable)
                Fail(pgdAddress, tree.PgdPfn, $"PGD entry {i} is {e}; expected none or a table");
            if (pgdAddress >= VirtualAddress.TaskSize)
                Fail(pgdAddress, tree.PgdPfn, $"PGD entry {i} covers 0x{pgdAddress:x}, beyond user space");
            uint pud = CheckTable(tree, e.Pfn, pgdAddress, "PUD table", reached);
            Pte* puds = tree.EntriesOf(pud);
            for (int j = 0; j < VirtualAddress.EntriesPerTable; j++)
            {
                ulong pudAddress = pgdAddress + ((ulong)j << VirtualAddress.PudShift);
                Pte p = puds[j];
                if (p.IsNone)
                    continue;
                if (!p.IsTable)
                    Fail(pudAddress, pud, $"PUD entry {j} is {p}; expected none or a table");
                uint pmd = CheckTable(tree, p.Pfn, pudAddress, "PMD table", reached);
                CheckPmdTable(tree, pmd, pudAddress, reached);
            }
        }

        if (reached.Count != tree.TablePages)
            Fail(0, -1, $"{reached.Count} table pages reached from the PGD (deposited ones included); the tree counts {tree.TablePages}: a table leaked or was counted twice");
    }

    private static void CheckPmdTable(PageTableTree tree, uint pmd, ulong pudAddress, HashSet<uint> reached)
    {
        Arena arena = tree.Arena;
        Pte* pmds = tree.EntriesOf(pmd);
        int leaves = 0;
        for (int k = 0; k < VirtualAddress.EntriesPerTable; k++)
        {
            ulong pmdAddress = pudAddress + ((ulong)k << VirtualAddress.PmdShift);
            Pte m = pmds[k];
            if (m.IsNone)
                continue;
            if (m.IsLeafPmd)
            {
                leaves++;
                if ((m.Pfn & (VirtualAddress.EntriesPerTable - 1)) != 0)
                    Fail(pmdAddress, pmd, $"PMD leaf at 0x{pmdAddress:x} maps PFN 0x{m.Pfn:x}; expected a 512-page aligned PFN");
                if (!m.IsSpecial && m.Pfn + VirtualAddress.EntriesPerTable > (ulong)arena.TotalPages)
                    Fail(pmdAddress, pmd, $"PMD leaf at 0x{pmdAddress:x} maps PFN 0x{m.Pfn:x}, outside the arena's 0x{arena.TotalPages:x} pages");
                continue;
            }

            if (!m.IsTable)
                Fail(pmdAddress, pmd, $"PMD entry for 0x{pmdAddress:x} is {m}; expected none, a table or a present leaf");
            uint pte = CheckTable(tree, m.Pfn, pmdAddress, "PTE table", reached);
            if (tree.Pages[pte].ListNext != PageDescriptor.Nil)
                Fail(pmdAddress, pte, $"PTE table at 0x{pmdAddress:x} links to deposited table 0x{tree.Pages[pte].ListNext:x}; only PMD tables hold deposits");
            Pte* ptes = tree.EntriesOf(pte);
            for (int n = 0; n < VirtualAddress.EntriesPerTable; n++)
            {
                Pte t = ptes[n];
                if (t.IsNone)
                    continue;
                ulong address = pmdAddress + ((ulong)n << PageGeometry.PageShift);
                if (!t.IsPresent)
                    Fail(address, pte, $"PTE for 0x{address:x} is {t}: not none and not present (no swap entries are modelled)");
                if (!t.IsSpecial && t.Pfn >= (ulong)arena.TotalPages)
                    Fail(address, pte, $"PTE for 0x{address:x} maps PFN 0x{t.Pfn:x}, outside the arena's 0x{arena.TotalPages:x} pages");
            }
        }

        int deposited = 0;
        for (uint dep = tree.Pages[pmd].ListNext; dep != PageDescriptor.Nil; dep = tree.Pages[dep].ListNext)
        {
            if (++deposited > leaves)
                Fail(pudAddress, pmd, $"PMD table at 0x{pudAddress:x} holds more deposited PTE tables than its {leaves} leaves");
            CheckTable(tree, dep, pudAddress, "deposited PTE table", reached);
            if (PteScan.CountNone(tree.EntriesOf(dep), VirtualAddress.EntriesPerTable) != VirtualAddress.EntriesPerTable)
                Fail(pudAddress, dep, $"deposited PTE table 0x{dep:x} under the PMD table at 0x{pudAddress:x} is not empty");
        }
    }

    private static uint CheckTable(PageTableTree tree, ulong pfn, ulong address, string what, HashSet<uint> reached)
    {
        Arena arena = tree.Arena;
        if (pfn >= (ulong)arena.TotalPages)
            Fail(address, (long)pfn, $"{what} for 0x{address:x} is PFN 0x{pfn:x}, outside the arena's 0x{arena.TotalPages:x} pages");
        uint table = (uint)pfn;
        ref readonly PageDescriptor page = ref arena.Page(table);
        if (page.PageTypeWord != PageTableTree.PageTableTypeWord)
            Fail(address, table, $"{what} 0x{table:x} for 0x{address:x} has page type word 0x{page.PageTypeWord:x8}; expected PGTY_table (0x{PageTableTree.PageTableTypeWord:x8})");
        if (page.Refcount != 1 || page.IsTail || page.IsHead)
            Fail(address, table, $"{what} 0x{table:x} for 0x{address:x} has refcount {page.Refcount}, head {page.IsHead}, tail {page.IsTail}; expected a live order-0 page");
        if (page.Private != 0)
            Fail(address, table, $"{what} 0x{table:x} for 0x{address:x} is locked (word 0x{page.Private:x}); expected no lock held while validating");
        if (!arena.HasMemory && page.Mapping == 0)
            Fail(address, table, $"{what} 0x{table:x} for 0x{address:x} has no side memory in a metadata-only arena");
        if (!reached.Add(table))
            Fail(address, table, $"{what} 0x{table:x} for 0x{address:x} is reached twice; expected every table owned by one entry");
        return table;
    }

    [DoesNotReturn]
    private static void Fail(ulong address, long tablePfn, string message) =>
        throw new PageTableCorruptionException($"Page tables corrupt at 0x{address:x}: {message}.", address, tablePfn);
}
