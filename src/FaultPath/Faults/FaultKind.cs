namespace LargeFolios.FaultPath;

/// <summary>What one page fault did (which branch of Linux's <c>__handle_mm_fault</c> handled it).</summary>
public enum FaultKind
{
    /// <summary>The access needed no fault, or another thread mapped the page first (a spurious fault).</summary>
    AlreadyMapped,

    /// <summary><c>do_anonymous_page</c>, read: the shared 4 KiB zero page was mapped.</summary>
    ZeroPage,

    /// <summary><c>do_huge_pmd_anonymous_page</c>, read: the huge zero page was mapped by the PMD.</summary>
    HugeZeroPage,

    /// <summary><c>do_anonymous_page</c>, write: a new folio (order 0 or an mTHP order) was mapped by PTEs.</summary>
    Folio,

    /// <summary><c>do_huge_pmd_anonymous_page</c> or <c>do_huge_zero_wp_pmd</c>, write: a new PMD-sized THP was mapped by the PMD.</summary>
    PmdFolio,

    /// <summary><c>do_wp_page</c>: <c>wp_page_copy</c> replaced the zero page, or a page of a folio that could not be reused (another process maps it), with a new order-0 folio.</summary>
    CopyOnWrite,

    /// <summary>VM_FAULT_OOM: no memory for the folio or a page table; nothing changed.</summary>
    OutOfMemory,

    /// <summary><c>do_wp_page</c> / <c>do_huge_pmd_wp_page</c>: a write to a read-only entry whose page this process alone maps (<c>wp_page_reuse</c>): the entry made writable, nothing copied.</summary>
    Reuse,
}
