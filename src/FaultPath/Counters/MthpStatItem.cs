namespace LargeFolios.FaultPath;

/// <summary>
/// The per-size mTHP counters, in the order of Linux 6.18's <c>enum mthp_stat_item</c>, each named
/// (<see cref="MthpStats.Name"/>) as its file in <c>hugepages-&lt;size&gt;kB/stats/</c>. The swap,
/// zswap and shmem counters exist so the names and indices match the kernel's; this model has no
/// swap or shmem, so they stay 0.
/// </summary>
public enum MthpStatItem
{
    /// <summary>anon_fault_alloc: an anonymous fault allocated a folio of this size.</summary>
    AnonFaultAlloc,

    /// <summary>anon_fault_fallback: an anonymous fault could not allocate this size and fell back to a smaller one.</summary>
    AnonFaultFallback,

    /// <summary>anon_fault_fallback_charge: as fallback, but the memcg charge failed (not modelled: no memcg).</summary>
    AnonFaultFallbackCharge,

    /// <summary>zswpout (no swap here).</summary>
    Zswpout,

    /// <summary>swpin (no swap here).</summary>
    Swpin,

    /// <summary>swpin_fallback (no swap here).</summary>
    SwpinFallback,

    /// <summary>swpin_fallback_charge (no swap here).</summary>
    SwpinFallbackCharge,

    /// <summary>swpout (no swap here).</summary>
    Swpout,

    /// <summary>swpout_fallback (no swap here).</summary>
    SwpoutFallback,

    /// <summary>shmem_alloc (no shmem here).</summary>
    ShmemAlloc,

    /// <summary>shmem_fallback (no shmem here).</summary>
    ShmemFallback,

    /// <summary>shmem_fallback_charge (no shmem here).</summary>
    ShmemFallbackCharge,

    /// <summary>split: a folio of this size was split successfully.</summary>
    Split,

    /// <summary>split_failed: splitting a folio of this size failed (extra references, say).</summary>
    SplitFailed,

    /// <summary>split_deferred: a folio of this size was queued for deferred split (it became partly mapped).</summary>
    SplitDeferred,

    /// <summary>nr_anon: anonymous folios of this size now live (a gauge, not an event count).</summary>
    NrAnon,

    /// <summary>nr_anon_partially_mapped: anonymous folios of this size now on the deferred-split queue as partly mapped (a gauge).</summary>
    NrAnonPartiallyMapped,
}
