using System;
using System.Collections.Generic;
using LargeFolios.TestSupport;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>The buddy core alone (per-CPU caching off): expand, merge, alignment, out of memory.</summary>
public unsafe class BuddyCoreTests
{
    [Fact]
    public void Order_0_from_a_fresh_arena_expands_one_block_per_order()
    {
        using var arena = Arenas.BuddyOnly();
        Folio folio = arena.Allocate(0);
        Assert.Equal(0u, folio.Pfn);

        // expand(): [1] at order 0, [2..3] at order 1, ..., [512..1023] at order 9.
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3 }, TestHelpers.FreeBlocks(arena));
        for (int order = 0; order < 10; order++)
            Assert.True(arena.Page(1u << order).IsBuddy);
        arena.Validate();

        arena.Free(folio);
        Assert.Equal(new long[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4 }, TestHelpers.FreeBlocks(arena));
        arena.Validate();
    }

    [Fact]
    public void Allocation_takes_the_smallest_sufficient_order()
    {
        using var arena = Arenas.BuddyOnly();
        Folio small = arena.Allocate(0);  // leaves one free block at each order 0..9
        Folio third = arena.Allocate(3);
        Assert.Equal(8u, third.Pfn);
        Assert.Equal(new long[] { 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 3 }, TestHelpers.FreeBlocks(arena));
        arena.Free(third);
        arena.Free(small);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Every_block_is_naturally_aligned_at_every_order()
    {
        using var arena = Arenas.BuddyOnly(32 * Arenas.MiB);
        var random = new Random(7);
        var live = new List<Folio>();
        for (int i = 0; i < 3000; i++)
        {
            if (live.Count > 0 && random.Next(3) == 0)
            {
                int victim = random.Next(live.Count);
                arena.Free(live[victim]);
                live.RemoveAt(victim);
                continue;
            }

            if (!arena.TryAllocate(random.Next(0, 11), out Folio folio))
                continue;
            Assert.Equal(0u, folio.Pfn % (uint)folio.PageCount);
            Assert.Equal(0UL, (ulong)folio.Address % (ulong)folio.Size);
            live.Add(folio);
        }

        arena.Validate();
        foreach (Folio folio in live)
            arena.Free(folio);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Freeing_merges_with_free_buddies_up_to_the_max_order()
    {
        using var arena = Arenas.BuddyOnly(4 * Arenas.MiB);
        var pages = TestHelpers.FillWith(arena, 0);
        Assert.Equal(1024, pages.Count);
        for (int i = 0; i < 1024; i += 2)
            arena.Free(pages[i]);
        Assert.Equal(512, arena.GetBuddyInfo().FreeBlocks(0));
        for (int i = 1; i < 1024; i += 2)
            arena.Free(pages[i]);
        Assert.Equal(new long[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, TestHelpers.FreeBlocks(arena));
        arena.Validate();
    }

    [Fact]
    public void A_block_whose_parent_buddy_is_free_is_queued_at_the_tail()
    {
        using var arena = Arenas.BuddyOnly(4 * Arenas.MiB);
        var pages = new List<Folio>();
        for (int i = 0; i < 8; i++)
            pages.Add(arena.Allocate(0));
        Assert.Equal(new uint[] { 0, 1, 2, 3, 4, 5, 6, 7 }, pages.ConvertAll(f => f.Pfn).ToArray());

        arena.Free(pages[0]);
        arena.Free(pages[1]);   // merges: [0..1] free at order 1
        arena.Free(pages[5]);   // buddy 4 live, parent's buddy [6..7] live: head of the order-0 list
        arena.Free(pages[2]);   // buddy 3 live, parent's buddy [0..1] free: merge likely, tail

        Assert.Equal(5u, arena.Allocate(0).Pfn);
        Assert.Equal(2u, arena.Allocate(0).Pfn);
        arena.Validate();
    }

    [Fact]
    public void Out_of_memory_is_a_result_for_TryAllocate_and_an_exception_for_Allocate()
    {
        using var arena = Arenas.BuddyOnly(4 * Arenas.MiB);
        Folio all = arena.Allocate(10);
        var before = ArenaSnapshot.Take(arena);
        Assert.False(arena.TryAllocate(0, out Folio none));
        Assert.True(none.IsNull);
        var error = Assert.Throws<OutOfMemoryException>(() => arena.Allocate(3));
        Assert.Contains("order 3", error.Message);
        before.AssertUnchanged(arena);
        arena.Free(all);
        Assert.Equal(0u, arena.Allocate(3).Pfn);
    }

    [Fact]
    public void Fragmented_arena_cannot_satisfy_a_large_order_although_enough_pages_are_free()
    {
        using var arena = Arenas.BuddyOnly(4 * Arenas.MiB);
        var pages = TestHelpers.FillWith(arena, 0);
        for (int i = 0; i < pages.Count; i += 2)
            arena.Free(pages[i]);
        Assert.Equal(512, arena.FreePages);
        Assert.False(arena.TryAllocate(1, out _));
        BuddyInfo info = arena.GetBuddyInfo();
        Assert.Equal(1000, info.UnusableFreeSpaceIndex(1));

        // __fragmentation_index: 1000 - (1000 + 512 * 1000 / 2) / 512 = 1000 - 501 = 499.
        Assert.Equal(499, info.FragmentationIndex(1));
        Assert.Equal(-1000, info.FragmentationIndex(0));
    }
}
