namespace LargeFolios.BuddyAllocator;

/// <summary>
/// Bits of a page's own flags word (offset 0 of page[0]). Bit numbers follow Linux 6.18's
/// <c>enum pageflags</c> for the ones modelled; the rest of the word is reserved.
/// </summary>
[System.Flags]
public enum PageFlags : ulong
{
    /// <summary>No flag set.</summary>
    None = 0,

    /// <summary>PG_locked: the folio lock.</summary>
    Locked = 1UL << 0,

    /// <summary>PG_referenced.</summary>
    Referenced = 1UL << 2,

    /// <summary>PG_uptodate: contents valid (set on a zeroed anonymous folio).</summary>
    Uptodate = 1UL << 3,

    /// <summary>PG_dirty.</summary>
    Dirty = 1UL << 4,

    /// <summary>PG_lru: on an LRU list.</summary>
    Lru = 1UL << 5,

    /// <summary>PG_head: the first page of a compound page (a folio of order 1 or more).</summary>
    Head = 1UL << 6,

    /// <summary>PG_swapbacked: anonymous memory that would be swapped, not written back.</summary>
    SwapBacked = 1UL << 19,

    /// <summary>PG_anon_exclusive (aliases PG_mappedtodisk): the page is exclusive to one mm.</summary>
    AnonExclusive = 1UL << 11,
}
