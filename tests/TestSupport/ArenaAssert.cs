using LargeFolios.BuddyAllocator;
using Xunit;

namespace LargeFolios.TestSupport;

/// <summary>Whole-arena assertions every layer's tests end with.</summary>
public static class ArenaAssert
{
    /// <summary>
    /// Every page is free and back in the buddy core as max-order blocks: the per-CPU caches drained,
    /// the arena's validator passed, nothing cached, nothing unmerged. A leak of one page anywhere
    /// (a folio, a page table, a zero page) fails it.
    /// </summary>
    public static void FullyMerged(Arena arena)
    {
        arena.DrainPerCpuCaches();
        arena.Validate();
        Assert.Equal(0, arena.CachedPages);
        Assert.Equal(arena.TotalPages, arena.FreePages);
        BuddyInfo info = arena.GetBuddyInfo();
        for (int order = 0; order < info.MaxOrder; order++)
            Assert.True(info.FreeBlocks(order) == 0, $"{info.FreeBlocks(order)} free blocks of order {order} left unmerged: {info}");
        Assert.Equal(arena.TotalPages >> info.MaxOrder, info.FreeBlocks(info.MaxOrder));
    }
}
