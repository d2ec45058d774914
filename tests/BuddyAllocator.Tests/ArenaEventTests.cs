using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.TestSupport;
using Xunit;
using F = LargeFolios.BuddyAllocator.AllocatorEventSource.Fields;
using Ids = LargeFolios.BuddyAllocator.AllocatorEventSource.EventIds;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>
/// The buddy allocator's events, through an in-process listener, against what each operation
/// must do (the end-to-end EventPipe path is tested in FaultPath.Tests), and the allocation and
/// free counters behind the metrics.
/// </summary>
[Collection(ListenerCollection.Name)]
public sealed class ArenaEventTests
{
    [Fact]
    public void The_hot_path_guard_follows_the_listeners()
    {
        Assert.False(AllocatorEventSource.IsOn);
        using (var listener = new ArenaListener(0))
        {
            Assert.True(AllocatorEventSource.IsOn);
            listener.DisableEvents(AllocatorEventSource.Log);
            Assert.False(AllocatorEventSource.IsOn);
            listener.EnableEvents(AllocatorEventSource.Log, EventLevel.Informational, AllocatorEventSource.Keywords.FolioSplit);
            Assert.True(AllocatorEventSource.IsOn);
        }

        Assert.False(AllocatorEventSource.IsOn);
    }

    [Fact]
    public void A_cold_allocation_splits_a_max_order_block_refills_the_cache_and_says_so()
    {
        using var arena = new Arena(8L << 20, options: new ArenaOptions { PerCpuSets = 1, PerCpuBatch = 8, PerCpuHigh = 64 });
        using var listener = new ArenaListener(arena.Id);

        Folio folio = arena.Allocate(0);

        // A fresh arena has only order-10 blocks: the refill splits one down to order 0 and takes a batch.
        Assert.Contains(listener.Of(Ids.BuddyBlockSplit), e => e.Int(F.FromOrder) == 10 && e.Int(F.ToOrder) == 0);
        Assert.Equal(1, listener.Of(Ids.PerCpuRefill).Count(e => e.Int(F.Order) == 0 && e.Int(F.Blocks) == arena.PerCpuBatch));
        EventWrittenEventArgs allocated = Assert.Single(listener.Of(Ids.FolioAllocated));
        Assert.Equal(((long)folio.Pfn, 0, 0), (allocated.Long(F.Pfn), allocated.Int(F.Order), allocated.Int(F.FromPerCpuCache)));

        Folio second = arena.Allocate(0);
        Assert.Equal(1, listener.Of(Ids.FolioAllocated).Last().Int(F.FromPerCpuCache));   // now a cache hit

        arena.Free(folio);
        arena.Free(second);
        Assert.All(listener.Of(Ids.FolioFreed), e => Assert.Equal(1, e.Int(F.ToPerCpuCache)));
        Assert.Equal([folio.Pfn, second.Pfn], listener.Of(Ids.FolioFreed).Select(e => (uint)e.Long(F.Pfn)));
    }

    [Fact]
    public void An_uncached_free_merges_up_to_the_max_order_and_a_drain_reports_its_pages()
    {
        using var arena = new Arena(8L << 20, options: new ArenaOptions { PerCpuOrders = 0 });
        Folio folio = arena.Allocate(3);
        using var listener = new ArenaListener(arena.Id);

        arena.Free(folio);

        EventWrittenEventArgs freed = Assert.Single(listener.Of(Ids.FolioFreed));
        Assert.Equal((3, 0), (freed.Int(F.Order), freed.Int(F.ToPerCpuCache)));
        EventWrittenEventArgs merged = Assert.Single(listener.Of(Ids.BuddyBlockMerged));
        Assert.Equal((3, 10, 0L), (merged.Int(F.FromOrder), merged.Int(F.ToOrder), merged.Long(F.Pfn) & 1023));

        using var cached = new Arena(8L << 20, options: new ArenaOptions { PerCpuSets = 1 });
        using var cachedListener = new ArenaListener(cached.Id);
        cached.Free(cached.Allocate(0));
        long inCache = cached.CachedPages;
        cached.DrainPerCpuCaches();
        Assert.Equal(inCache, Assert.Single(cachedListener.Of(Ids.PerCpuDrain)).Int(F.Pages));
    }

    [Fact]
    public void A_failed_try_allocation_is_an_event_and_a_result()
    {
        using var arena = new Arena(4L << 20);
        Folio all = arena.Allocate(10);
        using var listener = new ArenaListener(arena.Id);

        Assert.False(arena.TryAllocate(0, out _));

        EventWrittenEventArgs failed = Assert.Single(listener.Of(Ids.AllocationFailed));
        Assert.Equal((0, 0L), (failed.Int(F.Order), failed.Long(F.FreePages)));
        Assert.Equal(EventLevel.Warning, failed.Level);
        arena.Free(all);
    }

    [Fact]
    public void Splits_report_their_orders_and_pieces_and_an_order_one_refusal_changes_nothing()
    {
        using var arena = new Arena(8L << 20);
        using var listener = new ArenaListener(arena.Id);
        Folio anon = arena.Allocate(9, FolioKind.Anonymous);

        arena.SplitNonUniform(anon, 3, anon.Pfn + 16);
        EventWrittenEventArgs nonUniform = Assert.Single(listener.Of(Ids.FolioSplit));
        Assert.Equal((9, 3, 7, 0), (nonUniform.Int(F.OldOrder), nonUniform.Int(F.NewOrder), nonUniform.Int(F.Folios), nonUniform.Int(F.Uniform)));

        Folio four = arena.FolioOf(anon.Pfn + 32);   // the order-4 piece [4, {3}, 3, 5, 6, 7, 8] puts at +32
        Assert.Equal(5, four.Order);
        Assert.Throws<OrderOneFolioException>(() => arena.SplitUniform(four, 1));
        EventWrittenEventArgs refused = Assert.Single(listener.Of(Ids.FolioSplitRefused));
        Assert.Equal((four.Pfn, 5), ((uint)refused.Long(F.Pfn), refused.Int(F.Order)));
        Assert.Equal(5, arena.FolioOf(four.Pfn).Order);

        arena.SplitUniform(four, 2);
        Assert.Equal((5, 2, 8, 1), (listener.Of(Ids.FolioSplit).Last().Int(F.OldOrder), listener.Of(Ids.FolioSplit).Last().Int(F.NewOrder),
            listener.Of(Ids.FolioSplit).Last().Int(F.Folios), listener.Of(Ids.FolioSplit).Last().Int(F.Uniform)));
        foreach (Folio piece in new FolioRange(arena, anon.Pfn, 512).ToList())
            arena.Free(piece);
        arena.Validate();
    }

    [Fact]
    public void The_free_area_snapshot_is_the_buddy_info()
    {
        using var arena = new Arena(16L << 20, options: new ArenaOptions { PerCpuOrders = 0 });
        Folio a = arena.Allocate(0);
        Folio b = arena.Allocate(5);
        using var listener = new ArenaListener(arena.Id);
        listener.Clear();   // the snapshot the enabling wrote

        arena.TraceFreeAreas();

        List<EventWrittenEventArgs> rows = listener.Of(Ids.BuddyFreeArea).ToList();
        Assert.Equal(arena.MaxOrder + 1, rows.Count);
        Assert.Single(rows.Select(r => r.Long(F.Snapshot)).Distinct());
        Assert.Equal(arena.GetBuddyInfo().FreeBlocksPerOrder.ToArray(), rows.OrderBy(r => r.Int(F.Order)).Select(r => r.Long(F.FreeBlocks)).ToArray());
        arena.Free(a);
        arena.Free(b);
    }

    [Fact]
    public async Task Allocations_and_frees_count_every_folio_whichever_thread_frees_it()
    {
        using var arena = new Arena(64L << 20, options: new ArenaOptions { PerCpuSets = 2 });
        const int threads = 4, perThread = 5000;
        var handedOver = new ConcurrentQueue<Folio>();
        using var barrier = new Barrier(threads);
        Task[] workers = Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(
            () =>
            {
                barrier.SignalAndWait();
                var random = new Random(t);
                for (int i = 0; i < perThread; i++)
                {
                    Folio folio = arena.Allocate(random.Next(0, 4) switch { 1 => 0, var order => order }, FolioKind.Plain);
                    handedOver.Enqueue(folio);
                    if (handedOver.TryDequeue(out Folio other))   // often another thread's folio
                        arena.Free(other);
                }
            },
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        await Task.WhenAll(workers);
        Assert.Equal(threads * perThread, arena.Allocations);
        Assert.Equal(threads * perThread - handedOver.Count, arena.Frees);

        while (handedOver.TryDequeue(out Folio folio))
            arena.Free(folio);
        Assert.Equal(arena.Allocations, arena.Frees);
        arena.DrainPerCpuCaches();
        arena.Validate();
    }

    /// <summary>Records the provider's events for one arena (other tests' arenas write too).</summary>
    private sealed class ArenaListener : EventListener
    {
        private readonly int _arenaId;
        private readonly ConcurrentQueue<EventWrittenEventArgs> _events = new();

        public ArenaListener(int arenaId)
        {
            _arenaId = arenaId;
            EnableEvents(AllocatorEventSource.Log, EventLevel.Verbose, AllocatorEventSource.AllKeywords);
        }

        public IEnumerable<EventWrittenEventArgs> Of(int id) => _events.Where(e => e.EventId == id);

        public void Clear() => _events.Clear();

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.Payload is { Count: > 0 } payload && payload[0] is int arena && arena == _arenaId)
                _events.Enqueue(e);
        }
    }
}
