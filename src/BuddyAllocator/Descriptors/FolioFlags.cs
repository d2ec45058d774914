namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The second page's flags word (<c>folio->_flags_1</c>, offset 0 of page[1]). Its low byte holds the
/// folio order; these bits sit above it. Linux aliases them onto page flags of page[1]
/// (PG_active, PG_workingset, PG_reclaim); the bit numbers here are this model's own.
/// </summary>
[System.Flags]
public enum FolioFlags : ulong
{
    /// <summary>No flag set.</summary>
    None = 0,

    /// <summary>Mask of the order byte.</summary>
    OrderMask = 0xff,

    /// <summary>PG_has_hwpoisoned: some page of the folio is poisoned.</summary>
    HasHwPoisoned = 1UL << 8,

    /// <summary>
    /// PG_large_rmappable: the folio can be mapped into user page tables and split with
    /// <c>folio_split</c>; its deferred-split list lives in page[2]. Set on anonymous folios.
    /// </summary>
    LargeRmappable = 1UL << 9,

    /// <summary>PG_partially_mapped: on the deferred-split queue because only part of it is mapped.</summary>
    PartiallyMapped = 1UL << 10,

    /// <summary>Bits that describe the folio rather than page[1] (Linux PAGE_FLAGS_SECOND).</summary>
    SecondPageMask = OrderMask | HasHwPoisoned | LargeRmappable | PartiallyMapped,
}
