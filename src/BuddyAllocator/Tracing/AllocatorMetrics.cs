using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The buddy allocator's <see cref="System.Diagnostics.Metrics.Meter"/>, <c>LargeFolios.Allocator</c>
/// (the fault path's is <c>LargeFolios.FaultPath</c>, <c>FaultPathMetrics</c>). Every instrument is observable: nothing is recorded on a hot path; a listener
/// (<c>dotnet-counters monitor --counters LargeFolios.Allocator</c>, OpenTelemetry's
/// <c>AddMeter("LargeFolios.Allocator")</c>, a <see cref="MeterListener"/>) reads the counters
/// the allocator keeps anyway when it collects. Each measurement is tagged <c>arena</c> with the
/// arena's id.
/// </summary>
/// <remarks>
/// The callbacks run on the listener's thread. They visit arenas through
/// <see cref="ArenaRegistry.ForEachLive"/>, whose lock an arena's disposal takes before it frees
/// its memory, so a collection never reads a freed arena.
/// </remarks>
public static class AllocatorMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "LargeFolios.Allocator";

    private static readonly Meter s_meter = new(MeterName, typeof(AllocatorMetrics).Assembly.GetName().Version?.ToString());

#pragma warning disable CA1823, IDE0052 // instruments are kept alive by the meter; the fields name them
    private static readonly ObservableCounter<long> s_allocations = s_meter.CreateObservableCounter(
        "largefolios.buddy.allocations", () => PerArena(static arena => arena.Allocations), "{folio}",
        "Folios handed out (Linux pgalloc, per folio); a rate in dotnet-counters.");

    private static readonly ObservableCounter<long> s_frees = s_meter.CreateObservableCounter(
        "largefolios.buddy.frees", () => PerArena(static arena => arena.Frees), "{folio}",
        "Folios freed (Linux pgfree, per folio).");

    private static readonly ObservableGauge<long> s_freePages = s_meter.CreateObservableGauge(
        "largefolios.buddy.free_pages", FreePagesPerOrder, "{page}",
        "Free pages in the buddy core per order (/proc/buddyinfo's blocks times 2^order), tagged order.");

    private static readonly ObservableGauge<long> s_cachedPages = s_meter.CreateObservableGauge(
        "largefolios.percpu.cached_pages", () => PerArena(static arena => arena.CachedPages), "{page}",
        "Free pages held in the per-CPU caches.");

    private static readonly ObservableGauge<double> s_fragmentation = s_meter.CreateObservableGauge(
        "largefolios.buddy.fragmentation_index", FragmentationAtPmdOrder, null,
        "Linux extfrag_index at the PMD order: -1 when a 2 MiB block is free; else near 0 for lack of memory, near 1 for fragmentation.");
#pragma warning restore CA1823, IDE0052

    private static List<Measurement<long>> PerArena(System.Func<Arena, long> read)
    {
        var measurements = new List<Measurement<long>>();
        ArenaRegistry.ForEachLive(
            static (arena, state) => state.Measurements.Add(new Measurement<long>(state.Read(arena), new KeyValuePair<string, object?>("arena", arena.Id))),
            (Measurements: measurements, Read: read));
        return measurements;
    }

    private static List<Measurement<long>> FreePagesPerOrder()
    {
        var measurements = new List<Measurement<long>>();
        ArenaRegistry.ForEachLive(static (arena, measurements) =>
        {
            BuddyInfo info = arena.GetBuddyInfo();
            for (int order = 0; order <= info.MaxOrder; order++)
            {
                measurements.Add(new Measurement<long>(info.FreeBlocks(order) << order,
                    new KeyValuePair<string, object?>("arena", arena.Id), new KeyValuePair<string, object?>("order", order)));
            }
        }, measurements);
        return measurements;
    }

    private static List<Measurement<double>> FragmentationAtPmdOrder()
    {
        var measurements = new List<Measurement<double>>();
        ArenaRegistry.ForEachLive(static (arena, measurements) =>
        {
            if (arena.MaxOrder < PageGeometry.PmdOrder)
                return;
            int index = arena.GetBuddyInfo().FragmentationIndex(PageGeometry.PmdOrder);
            measurements.Add(new Measurement<double>(index / 1000.0, new KeyValuePair<string, object?>("arena", arena.Id)));
        }, measurements);
        return measurements;
    }

    /// <summary>Makes sure the instruments exist (they are created with the class); every arena's construction calls it.</summary>
    internal static void EnsureCreated() => System.GC.KeepAlive(s_allocations);
}
