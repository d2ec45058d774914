using System.Collections.Generic;
using System.Linq;

namespace LargeFolios.BuddyAllocator.Tests;

internal static class TestHelpers
{
    /// <summary>A descriptor, writable: how tests forge a corruption (the arena hands out read-only ones).</summary>
    public static unsafe ref PageDescriptor Forge(this Arena arena, uint pfn) => ref arena.Pages[pfn];

    public static long[] FreeBlocks(Arena arena) => arena.GetBuddyInfo().FreeBlocksPerOrder.ToArray();

    public static List<int> Orders(FolioRange range) => range.Select(f => f.Order).ToList();

    /// <summary>Fills the arena with live folios of <paramref name="order"/> until it is full.</summary>
    public static List<Folio> FillWith(Arena arena, int order, FolioKind kind = FolioKind.Plain)
    {
        var folios = new List<Folio>();
        while (arena.TryAllocate(order, kind, out Folio folio))
            folios.Add(folio);
        return folios;
    }
}
