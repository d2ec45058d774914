using LargeFolios.BuddyAllocator;
using LargeFolios.Folios.Workloads;
using LargeFolios.TestSupport;
using Xunit;

namespace LargeFolios.Folios.Tests;

public sealed class ArenaFragmenterTests
{
    [Fact]
    public void Half_the_blocks_are_left_in_pieces_of_at_most_64K()
    {
        using var arena = new Arena(64L << 20, options: new ArenaOptions { MetadataOnly = true });

        using (ArenaFragmenter fragmenter = ArenaFragmenter.Fragment(arena, 50))
        {
            // 8 of 16 blocks, a page pinned in every 32: 256 pages, and beside each one free block
            // of every order 0..4 (1 + 2 + 4 + 8 + 16 = 31 pages).
            Assert.Equal(256, fragmenter.PinnedPages);
            BuddyInfo info = arena.GetBuddyInfo();
            for (int order = 0; order <= 4; order++)
                Assert.Equal(256, info.FreeBlocks(order));
            for (int order = 5; order < 10; order++)
                Assert.Equal(0, info.FreeBlocks(order));
            Assert.Equal(8, info.FreeBlocks(10));
            arena.Validate();
        }

        ArenaAssert.FullyMerged(arena);
    }
}
