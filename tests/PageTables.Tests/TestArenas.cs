using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables.Tests;

/// <summary>Arenas and addresses the page-table tests share.</summary>
internal static class TestArenas
{
    public const long MiB = 1L << 20;

    /// <summary>Two MiB (one PMD, one PTE table's reach).</summary>
    public const ulong Pmd = VirtualAddress.PmdSize;

    /// <summary>A 1 GiB aligned user address far from zero, as mmap would pick.</summary>
    public const ulong Base = 0x7f00_0000_0000;

    /// <summary>No per-CPU caching, so the arena's free count is exact after every step.</summary>
    public static Arena BuddyOnly(long bytes = 32 * MiB) => new(bytes, PageGeometry.DefaultMaxOrder, new ArenaOptions { PerCpuOrders = 0 });

    public static Pte Rw(ulong pfn) => Pte.Make(pfn, PteFlags.Present | PteFlags.Write | PteFlags.User | PteFlags.Accessed | PteFlags.Dirty);

    public static Pte Leaf(ulong pfn) => Pte.Make(pfn, PteFlags.Present | PteFlags.Write | PteFlags.User | PteFlags.Accessed | PteFlags.Dirty | PteFlags.Huge);
}
