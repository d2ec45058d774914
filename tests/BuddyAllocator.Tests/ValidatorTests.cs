using System.Linq;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>The validator can fail: each corruption below is caught and named.</summary>
public class ValidatorTests
{
    private static ArenaCorruptionException Corrupt(Arena arena) => Assert.Throws<ArenaCorruptionException>(arena.Validate);

    [Fact]
    public void Wrong_order_on_a_free_block()
    {
        using var arena = Arenas.BuddyOnly(4 * Arenas.MiB);
        arena.Allocate(0);
        arena.Forge(4).Private = 3;
        Assert.Contains("PFN 0x4", Corrupt(arena).Message);
    }

    [Fact]
    public void Tail_pointing_at_the_wrong_head()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(4);
        arena.Forge(folio.Pfn + 9).CompoundHead = PageDescriptor.TailTag(folio.Pfn + 1);
        var error = Corrupt(arena);
        Assert.Equal(folio.Pfn + 9, error.Pfn);
        Assert.Contains("tail 9", error.Message);
    }

    [Fact]
    public void Unmerged_buddies()
    {
        using var arena = Arenas.BuddyOnly(4 * Arenas.MiB);
        Folio a = arena.Allocate(0);
        arena.Allocate(0);
        // Forge the allocated page 1 into a free order-0 block beside the free page... by hand.
        arena.Free(a);
        ref PageDescriptor one = ref arena.Forge(1);
        one.Refcount = 0;
        one.PageTypeWord = (uint)PageType.Buddy << 24;
        Assert.Contains("free", Corrupt(arena).Message);
    }

    [Fact]
    public void A_live_page_typed_buddy_or_a_typed_large_folio()
    {
        using var arena = Arenas.BuddyOnly(4 * Arenas.MiB);
        Folio page = arena.Allocate(0);
        arena.Forge(page.Pfn).PageTypeWord = (uint)PageType.Table << 24;   // legal: a page-table page
        arena.Validate();
        arena.Forge(page.Pfn).PageTypeWord = (uint)PageType.Buddy << 24;
        Assert.InRange(Corrupt(arena).Pfn, page.Pfn, page.Pfn + 1);     // it, or its buddy that looks unmerged
        arena.Forge(page.Pfn).PageTypeWord = uint.MaxValue;

        Folio large = arena.Allocate(2);
        arena.Forge(large.Pfn).PageTypeWord = (uint)PageType.Table << 24;
        Assert.Contains("large folio", Corrupt(arena).Message);
        arena.Forge(large.Pfn).PageTypeWord = uint.MaxValue;
        arena.Validate();
    }

    [Fact]
    public void Leaked_page()
    {
        using var arena = Arenas.BuddyOnly(4 * Arenas.MiB);
        Folio folio = arena.Allocate(0);
        arena.Forge(folio.Pfn).Refcount = 0;
        Assert.Contains("leaked", Corrupt(arena).Message);
    }

    [Fact]
    public void Anonymous_order_1_folio()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio pair = arena.Allocate(1);
        arena.Forge(pair.Pfn).Mapping = PageDescriptor.MappingAnon;
        Assert.Contains("order 1", Corrupt(arena).Message);
    }

    [Fact]
    public void A_queued_folio_that_is_not_rmappable()
    {
        // Only large-rmappable (anonymous) folios go on a deferred-split queue; Free reads page[2]
        // for those alone, so a queued plain folio must be caught here.
        using var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(3);
        arena.Forge(folio.Pfn + 2).DeferredQueue = 7;
        var error = Corrupt(arena);
        Assert.Equal(folio.Pfn + 2, error.Pfn);
        Assert.Contains("not large-rmappable", error.Message);
    }

    [Fact]
    public void A_cached_block_whose_deferred_list_is_not_empty()
    {
        using var arena = Arenas.SingleCpu();
        Folio folio = arena.Allocate(3);
        arena.Free(folio);
        arena.Forge(folio.Pfn + 2).DeferredNext = folio.Pfn + 8;
        var error = Corrupt(arena);
        Assert.Equal(folio.Pfn + 2, error.Pfn);
        Assert.Contains("deferred list", error.Message);
    }

    [Fact]
    public void Per_cpu_count_that_does_not_match_its_lists()
    {
        using var arena = Arenas.SingleCpu();
        arena.Free(arena.Allocate(2));
        unsafe
        {
            arena.PerCpu->Count += 1;
        }

        Assert.Contains("per-CPU", Corrupt(arena).Message);
    }

    [Fact]
    public void Nr_free_that_does_not_match_the_list()
    {
        using var arena = Arenas.BuddyOnly(8 * Arenas.MiB);
        _ = TestHelpers.FillWith(arena, 3).Where((_, i) => i % 2 == 0).Select(f => { arena.Free(f); return 0; }).ToList();
        ref PageDescriptor first = ref arena.Forge(0);
        first.PageTypeWord = uint.MaxValue;   // a listed block no longer marked Buddy
        Assert.Contains("free list", Corrupt(arena).Message);
    }
}

/// <summary>The three assert levels: the cheap free check ignores tails; DEBUG_VM builds walk them.</summary>
public class DebugVmTests
{
    [Fact]
    public void A_corrupt_tail_is_caught_on_free_only_with_DEBUG_VM()
    {
        using var arena = Arenas.BuddyOnly(4 * Arenas.MiB);
        Folio folio = arena.Allocate(5);
        arena.Forge(folio.Pfn + 17).Refcount = 3;
        if (DebugVm.Enabled)
        {
            var error = Assert.Throws<ArenaCorruptionException>(() => arena.Free(folio));
            Assert.Equal(folio.Pfn + 17, error.Pfn);
        }
        else
        {
            arena.Free(folio);
            arena.Validate();   // the free rewrote every tail
        }
    }

    /// <summary>CI runs the suite twice, the second time with -p:DebugVm=true and EXPECT_DEBUG_VM=1: prove the flag reached the library.</summary>
    [Fact]
    public void The_build_flavour_is_the_one_the_runner_asked_for()
    {
        string? expected = System.Environment.GetEnvironmentVariable("EXPECT_DEBUG_VM");
        if (expected is not null)
            Assert.Equal(expected == "1", DebugVm.Enabled);
    }
}
