using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.TestSupport;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

public class PerCpuCacheTests
{
    [Fact]
    public void A_refill_moves_a_batch_and_hands_out_its_first_block()
    {
        using var arena = Arenas.SingleCpu(batch: 8, high: 64);
        Folio page = arena.Allocate(0);
        Assert.Equal(7, arena.CachedPages);                 // nr_pcp_alloc: 8 >> 0 blocks, one handed out
        Folio quad = arena.Allocate(2);
        Assert.Equal(7 + 4, arena.CachedPages);             // max(8 >> 2, 2) = 2 blocks, one handed out
        arena.Validate();
        arena.Free(page);
        arena.Free(quad);
        ArenaAssert.FullyMerged(arena);
    }

    [Theory]
    [InlineData(600, 0)]     // room for one order-9 block below high: the refill takes only the one it hands out
    [InlineData(2048, 512)]  // room for four: Linux's two blocks, one handed out, one cached
    public void A_refill_never_overshoots_high(int high, int cachedAfter)
    {
        using var arena = Arenas.SingleCpu(64 * Arenas.MiB, high: high, batch: 63);
        Folio thp = arena.Allocate(PageGeometry.PmdOrder);
        Assert.Equal(cachedAfter, arena.CachedPages);
        arena.Validate();
        arena.Free(thp);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void A_freed_block_is_reused_from_the_cache_first()
    {
        using var arena = Arenas.SingleCpu();
        Folio first = arena.Allocate(3);
        arena.Free(first);
        Folio again = arena.Allocate(3);
        Assert.Equal(first.Pfn, again.Pfn);
        arena.Free(again);
        arena.Validate();
    }

    [Fact]
    public void Cached_blocks_keep_their_compound_layout()
    {
        using var arena = Arenas.SingleCpu(high: 2048);
        Folio folio = arena.Allocate(PageGeometry.PmdOrder, FolioKind.Anonymous);
        arena.Free(folio);
        Assert.Equal(512, arena.CachedPages);
        ref readonly PageDescriptor head = ref arena.Page(folio.Pfn);
        Assert.Equal(0, head.Refcount);
        Assert.True(head.IsHead);
        Assert.Equal(9, arena.Page(folio.Pfn + 1).FolioOrder);
        for (uint i = 1; i < 512; i++)
            Assert.Equal(folio.Pfn, arena.Page(folio.Pfn + i).HeadPfn);
        arena.Validate();
        Assert.Throws<BadFolioException>(() => arena.FolioOf(folio.Pfn + 7));
    }

    [Fact]
    public void Every_64th_take_of_a_set_makes_the_taker_ask_its_cpu_again()
    {
        using var arena = Arenas.SingleCpu();
        arena.Free(arena.Allocate(0));
        int asked = CurrentCpu.AskedOnThisThread;
        unsafe
        {
            Assert.InRange(arena.PerCpu->TakesUntilCpuCheck, 1, PerCpuPages.CpuCheckInterval);
            arena.PerCpu->TakesUntilCpuCheck = 2;
            arena.Free(arena.Allocate(0));
            Assert.Equal(1, arena.PerCpu->TakesUntilCpuCheck);
            Assert.Equal(asked, CurrentCpu.AskedOnThisThread);

            // The take that reaches 0 forgets the answer; the free right after asks again.
            arena.Free(arena.Allocate(0));
            Assert.Equal(PerCpuPages.CpuCheckInterval, arena.PerCpu->TakesUntilCpuCheck);
            Assert.Equal(asked + 1, CurrentCpu.AskedOnThisThread);
        }

        arena.Validate();
    }

    [Fact]
    public void A_reused_anonymous_block_comes_back_with_an_empty_deferred_list_without_page_2_being_written()
    {
        using var arena = Arenas.SingleCpu();
        Folio folio = arena.Allocate(4, FolioKind.Anonymous);
        arena.Free(folio);
        ref PageDescriptor third = ref arena.Forge(folio.Pfn + 2);
        third.Mapcount = 12345;     // a word Thaw never writes: it must survive the allocation
        Folio again = arena.Allocate(4, FolioKind.Anonymous);
        Assert.Equal(folio.Pfn, again.Pfn);
        Assert.Equal(12345, third.Mapcount);
        Assert.Equal(folio.Pfn, third.DeferredNext);
        Assert.Equal(folio.Pfn, third.DeferredPrev);
        Assert.Equal(0UL, third.DeferredQueue);
        third.Mapcount = PageDescriptor.NoMapcount;
        arena.Free(again);
        arena.Validate();
    }

    [Fact]
    public void Reaching_the_high_watermark_drains_a_batch_to_the_buddy_core()
    {
        using var arena = Arenas.SingleCpu(high: 16, batch: 4);
        var pages = new List<Folio>();
        for (int i = 0; i < 64; i++)
            pages.Add(arena.Allocate(0));
        long maxCached = 0;
        foreach (Folio page in pages)
        {
            arena.Free(page);
            Assert.InRange(arena.CachedPages, 1, 15);
            maxCached = System.Math.Max(maxCached, arena.CachedPages);
        }

        Assert.Equal(15, maxCached);
        arena.Validate();
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void A_block_larger_than_the_high_watermark_goes_straight_back()
    {
        using var arena = Arenas.SingleCpu(high: 100, batch: 4);
        Folio thp = arena.Allocate(PageGeometry.PmdOrder);
        arena.Free(thp);
        Assert.Equal(0, arena.CachedPages);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Linux_order_set_caches_0_to_3_and_the_pmd_order_only()
    {
        using var arena = Arenas.SingleCpu(high: 2048, orders: ArenaOptions.LinuxPerCpuOrders);
        arena.Free(arena.Allocate(4));
        Assert.Equal(0, arena.CachedPages);
        arena.Free(arena.Allocate(3));
        Assert.True(arena.CachedPages >= 8);
        arena.DrainPerCpuCaches();
        arena.Free(arena.Allocate(9));
        Assert.True(arena.CachedPages >= 512);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Caches_can_be_disabled()
    {
        using var arena = Arenas.BuddyOnly();
        Assert.Equal(0u, arena.PerCpuOrders);
        arena.Free(arena.Allocate(0));
        Assert.Equal(0, arena.CachedPages);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Allocation_drains_the_caches_before_it_fails()
    {
        using var arena = Arenas.SingleCpu(4 * Arenas.MiB);
        Folio page = arena.Allocate(0);
        arena.Free(page);
        Assert.True(arena.CachedPages > 0);
        Assert.Equal(0, arena.GetBuddyInfo().FreeBlocks(10));

        Folio whole = arena.Allocate(10);
        Assert.Equal(0, arena.CachedPages);
        Assert.Equal(0u, whole.Pfn);
        arena.Free(whole);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public async Task Blocks_freed_on_other_threads_than_the_allocating_one_are_accounted_correctly()
    {
        using var arena = new Arena(64 * Arenas.MiB);
        var handoff = new BlockingCollection<Folio>(boundedCapacity: 1024);
        var producer = Task.Run(() =>
        {
            for (int i = 0; i < 20000; i++)
                handoff.Add(arena.Allocate(i % 4 == 1 ? 0 : i % 4));
            handoff.CompleteAdding();
        });
        var consumers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            foreach (Folio folio in handoff.GetConsumingEnumerable())
                arena.Free(folio);
        })).ToArray();
        await Task.WhenAll([producer, .. consumers]);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Per_cpu_sets_work_with_more_threads_than_sets()
    {
        using var arena = new Arena(32 * Arenas.MiB, options: new ArenaOptions { PerCpuSets = 1 });
        using var start = new Barrier(4);
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            var mine = new List<Folio>();
            for (int i = 0; i < 5000; i++)
            {
                mine.Add(arena.Allocate((i + t) % 3));
                if (mine.Count > 16)
                {
                    arena.Free(mine[0]);
                    mine.RemoveAt(0);
                }
            }

            foreach (Folio folio in mine)
                arena.Free(folio);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        ArenaAssert.FullyMerged(arena);
    }
}
