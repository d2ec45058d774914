namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The fixed geometry of the modelled machine: 4 KiB base pages (x86-64 and the arm64 default),
/// 512-entry page tables, so a PMD maps 2 MiB = order 9.
/// </summary>
public static class PageGeometry
{
    /// <summary>log2 of the base page size (Linux PAGE_SHIFT).</summary>
    public const int PageShift = 12;

    /// <summary>The base page size in bytes (Linux PAGE_SIZE).</summary>
    public const int PageSize = 1 << PageShift;

    /// <summary>The order of a PMD-mapped huge page (Linux HPAGE_PMD_ORDER): 2 MiB / 4 KiB = 2^9.</summary>
    public const int PmdOrder = 9;

    /// <summary>The default largest buddy order (Linux MAX_PAGE_ORDER): 2^10 pages = 4 MiB blocks.</summary>
    public const int DefaultMaxOrder = 10;

    /// <summary>
    /// The largest max order an arena accepts. 2^20 pages (4 GiB blocks) is far beyond any Linux
    /// configuration and keeps every block's page count inside an <see cref="int"/>.
    /// </summary>
    public const int MaxSupportedOrder = 20;

    /// <summary>
    /// Page frames are linked by 32-bit PFNs with <see cref="uint.MaxValue"/> reserved as the list
    /// terminator, so an arena holds fewer than 2^32 - 1 pages (16 TiB).
    /// </summary>
    public const long MaxPages = uint.MaxValue - 1L;
}
