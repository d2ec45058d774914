namespace LargeFolios.PageTables;

/// <summary>What a split PMD leaf mapped (the <c>PmdSplit</c> event's <c>kind</c>).</summary>
public enum PmdSplitKind
{
    /// <summary>A PMD-sized folio: its 512 pages are now mapped by PTEs.</summary>
    Folio = 0,

    /// <summary>The huge zero page: the PTEs map the 4 KiB zero page (Linux <c>__split_huge_zero_page_pmd</c>).</summary>
    HugeZeroPage = 1,
}
