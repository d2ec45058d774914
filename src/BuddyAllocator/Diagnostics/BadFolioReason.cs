namespace LargeFolios.BuddyAllocator;

/// <summary>Why a folio operation was refused (Linux's <c>bad_page()</c> reasons, and the caller mistakes before them).</summary>
public enum BadFolioReason
{
    /// <summary>The handle is <c>default(Folio)</c>.</summary>
    NullFolio,

    /// <summary>The address or PFN lies outside the arena.</summary>
    NotInArena,

    /// <summary>The folio belongs to another arena.</summary>
    WrongArena,

    /// <summary>The address is not page aligned.</summary>
    NotPageAligned,

    /// <summary>The page is a tail of a larger folio, not its head.</summary>
    TailPage,

    /// <summary>The page is free already (double free, or use of a freed folio).</summary>
    AlreadyFree,

    /// <summary>The operation needs the only reference, and others are held.</summary>
    StillReferenced,

    /// <summary>The handle's order is not the folio's order (a handle kept across a split?).</summary>
    OrderMismatch,

    /// <summary>Some page of the folio is still mapped.</summary>
    Mapped,

    /// <summary>The folio is pinned.</summary>
    Pinned,

    /// <summary>The folio is on a deferred-split queue.</summary>
    OnDeferredList,

    /// <summary>The folio is locked (PG_locked) or on an LRU list (PG_lru).</summary>
    LockedOrOnLru,
}
