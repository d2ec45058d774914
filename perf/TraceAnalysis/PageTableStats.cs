namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>Page-table pages allocated and freed, and PMD mappings split into PTE tables.</summary>
internal sealed class PageTableStats
{
    /// <summary>Page-table pages allocated (PageTableAllocated).</summary>
    public long Allocated { get; set; }

    /// <summary>Page-table pages freed (PageTableFreed).</summary>
    public long Freed { get; set; }

    /// <summary>The most table pages one tree held at once, as the events report it after each allocation.</summary>
    public long PeakTablePages { get; set; }

    /// <summary>PMD-mapped THPs split into PTE tables (PmdSplit of kind Folio).</summary>
    public long PmdSplitsOfThp { get; set; }

    /// <summary>Huge-zero-page PMD mappings split into PTE tables (PmdSplit of kind HugeZeroPage).</summary>
    public long PmdSplitsOfHugeZeroPage { get; set; }
}
