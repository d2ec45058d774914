namespace LargeFolios.FaultPath;

/// <summary>
/// Machine-wide event counters. Most are Linux's <c>/proc/vmstat</c> events (the name in each
/// comment is the vmstat line); the rest count what the model's totals need and have no vmstat
/// line (their names say so: <c>model_</c>).
/// </summary>
public enum VmEvent
{
    /// <summary><c>pgfault</c>: every fault handled (spurious ones included).</summary>
    PgFault,

    /// <summary><c>thp_fault_alloc</c>: PMD-sized THPs allocated by faults.</summary>
    ThpFaultAlloc,

    /// <summary><c>thp_fault_fallback</c>: PMD-sized THP allocations that failed in a fault.</summary>
    ThpFaultFallback,

    /// <summary><c>thp_fault_fallback_charge</c>: the same, failed at the memcg charge.</summary>
    ThpFaultFallbackCharge,

    /// <summary><c>thp_split_page</c>: PMD-sized THPs split.</summary>
    ThpSplitPage,

    /// <summary><c>thp_split_page_failed</c>: PMD-sized THP splits that failed.</summary>
    ThpSplitPageFailed,

    /// <summary><c>thp_deferred_split_page</c>: PMD-sized THPs queued partially mapped.</summary>
    ThpDeferredSplitPage,

    /// <summary><c>thp_underused_split_page</c>: PMD THPs the shrinker split because they were underused.</summary>
    ThpUnderusedSplitPage,

    /// <summary><c>thp_split_pmd</c>: PMD mappings split into PTE mappings.</summary>
    ThpSplitPmd,

    /// <summary><c>thp_zero_page_alloc</c>: huge zero pages allocated.</summary>
    ThpZeroPageAlloc,

    /// <summary><c>model_zero_page_fault</c>: faults that mapped the 4 KiB zero page.</summary>
    ZeroPageFault,

    /// <summary><c>model_huge_zero_page_fault</c>: faults that mapped the huge zero page.</summary>
    HugeZeroPageFault,

    /// <summary><c>model_anon_folio_fault</c>: faults that mapped a new folio by PTEs (any order).</summary>
    AnonFolioFault,

    /// <summary><c>model_pmd_folio_fault</c>: faults that mapped a new PMD THP (huge-zero write faults included).</summary>
    PmdFolioFault,

    /// <summary><c>model_cow_fault</c>: write faults copied to a new order-0 folio (<c>wp_page_copy</c>: from the zero page, or from a folio another process maps).</summary>
    CowFault,

    /// <summary><c>model_spurious_fault</c>: faults that found the access already allowed (another thread got there first).</summary>
    SpuriousFault,

    /// <summary><c>model_oom_fault</c>: faults that ended VM_FAULT_OOM.</summary>
    OomFault,

    /// <summary><c>model_zero_page_remap</c>: zero-filled pages remapped to the zero page after a split (<c>try_to_map_unused_to_zeropage</c>).</summary>
    ZeroPageRemap,

    /// <summary><c>model_pte_table_reclaim</c>: empty PTE tables freed by MADV_DONTNEED (<c>CONFIG_PT_RECLAIM</c>).</summary>
    PteTableReclaim,

    /// <summary><c>pgreuse</c>: write faults that made a read-only page writable without copying it (<c>wp_page_reuse</c>).</summary>
    PgReuse,

    /// <summary><c>thp_collapse_alloc</c>: PMD THPs allocated for a collapse (MADV_COLLAPSE).</summary>
    ThpCollapseAlloc,

    /// <summary><c>thp_collapse_alloc_failed</c>: PMD THP allocations for a collapse that failed.</summary>
    ThpCollapseAllocFailed,
}
