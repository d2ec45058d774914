using System;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>The mm/vmstat.c figures, checked against values worked out by hand from the kernel's formulas.</summary>
public class BuddyInfoTests
{
    [Fact]
    public void Unusable_free_space_index_as_linux_computes_it()
    {
        // free pages = 10 + 5*2 + 1*8 = 28
        BuddyInfo info = BuddyInfo.FromFreeBlocks([10, 5, 0, 1]);
        Assert.Equal(28, info.FreePages);
        Assert.Equal(0, info.UnusableFreeSpaceIndex(0));
        Assert.Equal(357, info.UnusableFreeSpaceIndex(1));   // (28 - 9*2) * 1000 / 28
        Assert.Equal(714, info.UnusableFreeSpaceIndex(2));   // (28 - 2*4) * 1000 / 28
        Assert.Equal(714, info.UnusableFreeSpaceIndex(3));   // (28 - 1*8) * 1000 / 28
        Assert.Equal(71, info.ExternalFragmentationPercent(3));
    }

    [Fact]
    public void Fragmentation_index_as_linux_computes_it()
    {
        // free pages 20, blocks 15, nothing of order 2 or 3.
        BuddyInfo info = BuddyInfo.FromFreeBlocks([10, 5, 0, 0]);
        Assert.Equal(-1000, info.FragmentationIndex(0));
        Assert.Equal(-1000, info.FragmentationIndex(1));
        Assert.Equal(600, info.FragmentationIndex(2));   // 1000 - (1000 + 20000/4) / 15
        Assert.Equal(767, info.FragmentationIndex(3));   // 1000 - (1000 + 20000/8) / 15
        Assert.Equal("Node 0, zone   Normal -1.000 -1.000  0.600  0.767 ", info.FormatFragmentationIndex());
        Assert.Equal("Node 0, zone   Normal 0.000 0.500 1.000 1.000 ", info.FormatUnusableFreeSpaceIndex());
    }

    [Fact]
    public void Nothing_free()
    {
        BuddyInfo info = BuddyInfo.FromFreeBlocks([0, 0, 0]);
        Assert.Equal(1000, info.UnusableFreeSpaceIndex(1));
        Assert.Equal(0, info.FragmentationIndex(1));
        Assert.Equal(0, info.ExternalFragmentationPercent(1));
    }

    [Fact]
    public void Buddyinfo_line_has_the_proc_format()
    {
        BuddyInfo info = BuddyInfo.FromFreeBlocks([3, 0, 12, 123456]);
        Assert.Equal("Node 0, zone   Normal      3      0     12 123456 ", info.ToString());
    }

    [Fact]
    public void Orders_outside_the_snapshot_and_bad_counts_are_refused()
    {
        BuddyInfo info = BuddyInfo.FromFreeBlocks([1, 2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => info.FragmentationIndex(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => info.FreeBlocks(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => BuddyInfo.FromFreeBlocks([1, -1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => BuddyInfo.FromFreeBlocks([]));
    }

    [Fact]
    public void Arena_snapshot_counts_only_the_buddy_core()
    {
        using var arena = Arenas.SingleCpu(high: 64, batch: 8);
        Folio page = arena.Allocate(0);
        BuddyInfo info = arena.GetBuddyInfo();
        Assert.Equal(arena.TotalPages - 8, info.FreePages);   // 1 live + 7 cached
        Assert.Equal(7, arena.CachedPages);
        Assert.Equal(info.FreePages, arena.FreePages);
        arena.Free(page);
    }
}
