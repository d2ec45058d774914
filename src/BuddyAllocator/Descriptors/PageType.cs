namespace LargeFolios.BuddyAllocator;

/// <summary>
/// Page types overlay the mapcount word (offset 48) of a page that can never be mapped: the top
/// byte names the type, as Linux 6.18's <c>enum pagetype</c> (PGTY_*). An untyped, unmapped page
/// holds -1 (0xffffffff) there.
/// </summary>
public enum PageType : byte
{
    /// <summary>PGTY_buddy: the head of a free block in the buddy core; <c>private</c> holds its order.</summary>
    Buddy = 0xf0,

    /// <summary>PGTY_offline.</summary>
    Offline = 0xf1,

    /// <summary>PGTY_table: a page-table page.</summary>
    Table = 0xf2,

    /// <summary>PGTY_guard.</summary>
    Guard = 0xf3,
}
