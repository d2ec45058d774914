using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.Folios.TraceAnalysis;
using LargeFolios.PageTables;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// A real trace of a known workload, loaded into an <see cref="AllocatorTrace"/>: every number the
/// report prints is checked against what the workload did and what the allocator counted.
/// </summary>
[Collection(ReportEventPipeCollection.Name)]
public sealed class ReportTraceTests(ReportTraceFixture fixture)
{
    private readonly AllocatorTrace _trace = AllocatorTrace.Load(fixture.TracePath, fixture.ArenaId);

    [Fact]
    public void The_trace_loads_whole_and_without_warnings()
    {
        Assert.Empty(_trace.Warnings);
        Assert.Contains(fixture.ArenaId, _trace.Arenas);
        Assert.Equal(fixture.ArenaId, _trace.ArenaFilter);
        Assert.True(_trace.DurationMs > 0, $"duration {_trace.DurationMs} ms");
    }

    [Fact]
    public void Faults_by_order_are_the_machines_anon_fault_alloc_counts()
    {
        FaultStats faults = _trace.Faults;
        Assert.Equal(8, fixture.AnonFaultAlloc.Order4);
        Assert.Equal(4, fixture.AnonFaultAlloc.Order2);
        Assert.Equal(1, fixture.AnonFaultAlloc.Order9);
        Assert.Equal(fixture.AnonFaultAlloc.Order4, faults.ByKindAndOrder[(FaultKind.Folio, 4)]);
        Assert.Equal(fixture.AnonFaultAlloc.Order2, faults.ByKindAndOrder[(FaultKind.Folio, 2)]);
        Assert.Equal(fixture.AnonFaultAlloc.Order9, faults.ByKindAndOrder[(FaultKind.PmdFolio, 9)]);
        Assert.Equal(1, faults.ByKind[FaultKind.ZeroPage]);
        Assert.Equal(fixture.Faults, faults.ByKind.Total);
        Assert.Equal(fixture.Faults - 1, faults.WriteFaults);
        Assert.Equal(1, faults.ReadFaults);
        Assert.Equal(0, faults.FallbacksByOrder.Total);
    }

    [Fact]
    public void Every_fault_is_one_latency_pair()
    {
        FaultStats faults = _trace.Faults;
        Assert.Equal(fixture.Faults, faults.Pairs.Samples.Count);
        Assert.Equal(0, faults.Pairs.UnpairedStarts);
        Assert.Equal(0, faults.Pairs.UnpairedStops);

        LatencySummary all = faults.Latency;
        Assert.Equal((int)fixture.Faults, all.Count);
        Assert.True(all.P50 > 0 && all.P50 <= all.P90 && all.P90 <= all.P99 && all.P99 <= all.P999 && all.P999 <= all.Max, all.ToString());
        Assert.Equal(fixture.Faults, faults.LatencyByKind.Sum(kind => kind.Latency.Count));
        Assert.Equal([2, 4, 9], faults.LatencyByFolioOrder.Select(order => order.Order));
    }

    [Fact]
    public void Allocations_and_frees_are_the_arenas_counts()
    {
        AllocationStats allocations = _trace.Allocations;
        Assert.Equal(fixture.Allocations, allocations.AllocatedByOrder.Total);
        Assert.Equal(fixture.Frees, allocations.FreedByOrder.Total);
        Assert.Equal(8, allocations.AllocatedByOrder[4]);
        Assert.Equal(4, allocations.AllocatedByOrder[2]);
        Assert.Equal(1, allocations.AllocatedByOrder[9]);
        Assert.Equal(0, allocations.FailedByOrder.Total);
        Assert.True(allocations.BlockSplits > 0 && allocations.BlockMerges > 0);

        // Every page handed out came back: the pages allocated and freed balance.
        Assert.Equal(allocations.AllocatedByOrder.Sum(pair => pair.Value << pair.Key), allocations.FreedByOrder.Sum(pair => pair.Value << pair.Key));
    }

    [Fact]
    public void The_timeline_holds_every_allocation_in_its_buckets()
    {
        var buckets = _trace.Allocations.Timeline.Buckets(_trace.StartMs, _trace.EndMs, 10);
        Assert.Equal(10, buckets.Count);
        Assert.Equal(fixture.Allocations, buckets.Sum(bucket => bucket.ByOrder.Total));
        Assert.Equal(8, buckets.Sum(bucket => bucket.ByOrder[4]));
        Assert.Equal(_trace.StartMs, buckets[0].StartMs);
        Assert.Equal(_trace.EndMs, buckets[^1].EndMs);
    }

    [Fact]
    public void The_per_cpu_cache_shares_count_every_allocation_and_free()
    {
        PerCpuCacheStats caches = _trace.PerCpuCaches;
        Assert.Equal(fixture.Allocations, caches.Allocations);
        Assert.Equal(fixture.Frees, caches.Frees);
        Assert.InRange(caches.AllocationHits, 1, caches.Allocations - 1);
        Assert.InRange(caches.AllocationHitRate, 0.0, 1.0);
        Assert.InRange(caches.FreeHits, 1, caches.Frees);
        Assert.True(caches.Refills > 0 && caches.RefilledBlocks >= caches.Refills);
        Assert.True(caches.Drains > 0 && caches.DrainedPages > 0);
    }

    [Fact]
    public void Splits_refusals_and_the_deferred_queue_are_what_the_workload_did()
    {
        SplitStats splits = _trace.Splits;

        // The shrinker's split and the debugfs uniform one are uniform; the rest are the
        // non-uniform split and its pieces' (see ReportTraceFixture.NonUniformSplits).
        Assert.Equal(3, fixture.SplitsOfOrder4);
        Assert.Equal(fixture.SplitsOfOrder4, splits.ByOrders[(4, 0)]);
        Assert.Equal(fixture.SplitsOfAnyOrder, splits.ByOrders.Total);
        Assert.Equal(1 + fixture.UniformSplits, splits.Uniform);
        Assert.Equal(fixture.NonUniformSplits, splits.NonUniform);
        Assert.True(splits.NonUniform > 0);

        // debugfs asks again for each of the folio's 16 pages, and the fault path refuses each ask
        // before the arena sees it; the arena refuses the one anonymous folio split straight to order 1.
        Assert.Equal(16, splits.Refusals[FolioSplitRefusal.InvalidOrder]);
        Assert.Equal(16, splits.Refusals.Total);
        Assert.Equal(1, splits.ArenaOrderOneRefusals);
        Assert.Equal(17, splits.RefusalsTotal);

        // The PMD THP joins the queue when it is mapped (for the underused shrinker); the 64K
        // folio when half of it is zapped; and every folio debugfs splits while two or more of its
        // pages are mapped, as unmap_folio takes its PTEs out one at a time (Linux
        // __folio_remove_rmap finds it partially mapped after the first).
        long splitWhileMapped = fixture.UniformSplits + fixture.NonUniformSplits;
        Assert.Equal((2L + splitWhileMapped, 1L + splitWhileMapped), (splits.DeferredQueued, splits.DeferredQueuedPartiallyMapped));
        // One shrinker run takes both: it splits the partially mapped one and lets the whole PMD THP go.
        Assert.Equal((1L, 2L, 1L, 0L, 0L), (splits.DeferredScans, splits.DeferredScanned, splits.DeferredSplit, splits.DeferredRequeued, splits.DeferredQueueLength));
    }

    [Fact]
    public void Page_tables_and_mappings_are_counted()
    {
        PageTableStats tables = _trace.PageTables;
        Assert.True(tables.Allocated >= 4, $"{tables.Allocated} table pages");
        Assert.Equal(tables.Allocated, tables.Freed);
        Assert.Equal(0, tables.PmdSplitsOfHugeZeroPage);

        MappingStats mappings = _trace.Mappings;
        Assert.Equal(3, mappings.Mmaps);
        Assert.Equal((4UL << 20) + (64UL << 10) + (2UL << 20), mappings.MmapBytes);
        Assert.Equal(3, mappings.MmapsByProtection[VmaFlags.Read | VmaFlags.Write]);   // mmap's default
        Assert.Equal((long)mappings.MmapBytes, mappings.MmapBytesByProtection[VmaFlags.Read | VmaFlags.Write]);
        Assert.Equal((1L, 256UL << 10, 64L), (mappings.Munmaps, mappings.MunmapBytes, mappings.MunmapPagesZapped));
        Assert.Equal(1, mappings.MadviseCalls[MadviseAdvice.DontNeed]);
        Assert.Equal(8, mappings.MadvisePagesZapped[MadviseAdvice.DontNeed]);
    }

    [Fact]
    public void Free_area_snapshots_are_the_two_asked_for_the_first_of_a_whole_arena()
    {
        Assert.Equal(2, _trace.FreeAreas.Count);
        Assert.All(_trace.FreeAreas, snapshot => Assert.Equal(fixture.ArenaId, snapshot.ArenaId));
        Assert.Equal(64L << 20 >> 12, _trace.FreeAreas[0].TotalFreePages);
        FreeAreaSnapshot last = _trace.FreeAreas[^1];
        Assert.Equal(fixture.LastFreeBlocks, Enumerable.Range(0, fixture.LastFreeBlocks.Length).Select(order => last.FreeBlocks[order]));
        Assert.True(last.TimeMs > _trace.FreeAreas[0].TimeMs);
    }

    [Fact]
    public void Events_by_type_match_the_sections()
    {
        Tally<(string Provider, string Event)> events = _trace.EventsByName;
        Assert.Equal(fixture.Faults, events[(FaultPathEventSource.ProviderName, "FaultStart")]);
        Assert.Equal(fixture.Faults, events[(FaultPathEventSource.ProviderName, "FaultStop")]);
        Assert.Equal(fixture.Allocations, events[(AllocatorEventSource.ProviderName, "FolioAllocated")]);
        Assert.Equal(_trace.FreeAreas.Sum(snapshot => snapshot.FreeBlocks.Count), events[(AllocatorEventSource.ProviderName, "BuddyFreeArea")]);
        Assert.Equal(_trace.PageTables.Allocated, events[(PageTableEventSource.ProviderName, "PageTableAllocated")]);
        Assert.DoesNotContain(events.Keys, key => key.Event == "EventSourceMessage");
    }

    [Fact]
    public void Every_provider_wrote_events_and_each_keeps_its_own_ids()
    {
        var providers = _trace.EventsByName.Keys.Select(key => key.Provider).Distinct().Order(System.StringComparer.Ordinal).ToArray();
        Assert.Equal([AllocatorEventSource.ProviderName, FaultPathEventSource.ProviderName, PageTableEventSource.ProviderName], providers);

        // Both providers have a FolioSplitRefused, id 11: the fault path's 16 and the arena's one stay apart.
        Assert.Equal(AllocatorEventSource.EventIds.FolioSplitRefused, FaultPathEventSource.EventIds.FolioSplitRefused);
        Assert.Equal(16, _trace.EventsByName[(FaultPathEventSource.ProviderName, "FolioSplitRefused")]);
        Assert.Equal(1, _trace.EventsByName[(AllocatorEventSource.ProviderName, "FolioSplitRefused")]);
    }

    [Fact]
    public void Without_an_arena_filter_every_arena_is_counted()
    {
        AllocatorTrace all = AllocatorTrace.Load(fixture.TracePath);
        Assert.Null(all.ArenaFilter);
        Assert.True(all.EventsByName.Total >= _trace.EventsByName.Total);
    }

    [Fact]
    public void A_filter_for_an_arena_the_trace_lacks_warns()
    {
        AllocatorTrace none = AllocatorTrace.Load(fixture.TracePath, arenaId: int.MaxValue);
        Assert.Equal(0, none.EventsByName.Total);
        string warning = Assert.Single(none.Warnings);
        Assert.StartsWith($"no events from arena {int.MaxValue}; the trace has arena", warning);
    }

    [Fact]
    public void A_session_without_the_providers_events_loads_with_a_warning()
    {
        AllocatorTrace empty = AllocatorTrace.Load(fixture.EmptySessionPath);
        Assert.Equal(0, empty.EventsByName.Total);
        Assert.Empty(empty.Arenas);
        string warning = Assert.Single(empty.Warnings);
        Assert.Equal("no events of LargeFolios-Allocator, LargeFolios-PageTables, LargeFolios-FaultPath: were the providers enabled " +
            "(--providers LargeFolios-Allocator:0x7:5,LargeFolios-PageTables:0x1:5,LargeFolios-FaultPath:0x7:5)?", warning);
    }
}
