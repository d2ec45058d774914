namespace LargeFolios.FaultPath;

/// <summary>
/// <c>/sys/kernel/mm/transparent_hugepage/defrag</c>: how hard a THP allocation tries when no free
/// block of its order is left (Linux <c>vma_thp_gfp_mask</c>).
/// </summary>
public enum ThpDefrag
{
    /// <summary>Direct reclaim and compaction for every THP allocation (TRANSPARENT_HUGEPAGE_DEFRAG_DIRECT_FLAG).</summary>
    Always,

    /// <summary>Wake kswapd and kcompactd, never stall (TRANSPARENT_HUGEPAGE_DEFRAG_KSWAPD_FLAG).</summary>
    Defer,

    /// <summary>Direct reclaim for VM_HUGEPAGE VMAs, kswapd for the rest (TRANSPARENT_HUGEPAGE_DEFRAG_KSWAPD_OR_MADV_FLAG).</summary>
    DeferMadvise,

    /// <summary>Direct reclaim for VM_HUGEPAGE VMAs only (TRANSPARENT_HUGEPAGE_DEFRAG_REQ_MADV_FLAG); the default.</summary>
    Madvise,

    /// <summary>Never reclaim or compact for a THP.</summary>
    Never,
}
