namespace LargeFolios.PageTables;

/// <summary>The level of a page-table entry: which table it sits in.</summary>
public enum PageTableLevel
{
    /// <summary>An entry of the top-level table, mapping 512 GiB (it points at a PUD table).</summary>
    Pgd,

    /// <summary>An entry of a PUD table, mapping 1 GiB (it points at a PMD table).</summary>
    Pud,

    /// <summary>An entry of a PMD table, mapping 2 MiB (a PTE table, or a leaf).</summary>
    Pmd,
}
