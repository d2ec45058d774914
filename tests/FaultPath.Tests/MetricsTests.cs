using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.BuddyAllocator;
using LargeFolios.TestSupport;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// The two meters, <c>LargeFolios.Allocator</c> (the buddy allocator's) and <c>LargeFolios.FaultPath</c>,
/// as a listener sees them (dotnet-counters and OpenTelemetry are such listeners): every instrument
/// is on its layer's meter and reports, for this test's arena, what the layer's own counters say.
/// </summary>
public sealed class MetricsTests
{
    private static readonly string[] MeterNames = [AllocatorMetrics.MeterName, FaultPathMetrics.MeterName];
    [Fact]
    public void Every_instrument_reports_the_allocators_own_counters()
    {
        using var world = new World(64 * MiB);
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(9, ThpSizeEnabled.Never);
        world.Mm.Mmap(Base, 2 * (ulong)MiB);
        for (ulong offset = 0; offset < (ulong)MiB; offset += Page)
            world.Mm.Write(Base + offset);
        world.Mm.Madvise(Base, 32 * 1024, MadviseAdvice.DontNeed);   // one 64K folio partly unmapped: queued

        Dictionary<string, List<(double Value, Dictionary<string, object?> Tags)>> seen = Collect(world.Arena.Id);

        BuddyInfo buddy = world.Arena.GetBuddyInfo();
        for (int order = 0; order <= buddy.MaxOrder; order++)
            Assert.Equal(buddy.FreeBlocks(order) << order, Single(seen, "largefolios.buddy.free_pages", ("order", order)));
        Assert.Equal(world.Arena.Allocations, Single(seen, "largefolios.buddy.allocations"));
        Assert.Equal(world.Arena.Frees, Single(seen, "largefolios.buddy.frees"));
        Assert.Equal(world.Arena.CachedPages, Single(seen, "largefolios.percpu.cached_pages"));
        Assert.Equal(buddy.FragmentationIndex(9) / 1000.0, Single(seen, "largefolios.buddy.fragmentation_index"));
        Assert.Equal(world.Event(VmEvent.PgFault), Single(seen, "largefolios.faults"));
        Assert.Equal(16, world.Event(VmEvent.PgFault));
        Assert.Equal(world.Machine.PageTablePages, Single(seen, "largefolios.page_table.pages"));
        Assert.Equal(4, world.Machine.PageTablePages);
        Assert.Equal(1, Single(seen, "largefolios.deferred_split.queue_length"));
        Assert.Equal(16, Single(seen, "largefolios.mthp.events", ("size", "64kB"), ("stat", "anon_fault_alloc")));
        Assert.Equal(1, Single(seen, "largefolios.mthp.events", ("size", "64kB"), ("stat", "split_deferred")));
        Assert.Equal(16, Single(seen, "largefolios.mthp.folios", ("size", "64kB"), ("stat", "nr_anon")));
        Assert.Equal(1, Single(seen, "largefolios.mthp.folios", ("size", "64kB"), ("stat", "nr_anon_partially_mapped")));

        Dictionary<string, string> meterOf = MeterOfEachInstrument();
        Assert.All(seen.Keys.Where(name => name.StartsWith("largefolios.buddy.", StringComparison.Ordinal) || name.StartsWith("largefolios.percpu.", StringComparison.Ordinal)),
            name => Assert.Equal(AllocatorMetrics.MeterName, meterOf[name]));
        Assert.All(["largefolios.faults", "largefolios.page_table.pages", "largefolios.deferred_split.queue_length", "largefolios.mthp.events", "largefolios.mthp.folios"],
            name => Assert.Equal(FaultPathMetrics.MeterName, meterOf[name]));

        world.TearDownAndAssertNoLeak();
        Assert.Empty(Collect(world.Arena.Id));   // a disposed arena and machine leave the meter
    }

    [Fact]
    public async Task Collections_racing_arenas_being_created_and_disposed_read_only_live_ones()
    {
        using var stop = new CancellationTokenSource();
        long collections = 0;
        Task collector = Task.Factory.StartNew(
            () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    foreach (var (_, measurements) in Collect(arenaId: null))
                        Assert.All(measurements, m => Assert.True(m.Value >= -1, "a negative measurement"));
                    collections++;
                }
            },
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        for (int i = 0; i < 200; i++)
        {
            using var world = new World(8 * MiB);
            world.Mm.Mmap(Base, 64 * Page);
            world.Mm.Write(Base);
            world.TearDownAndAssertNoLeak();
        }

        await stop.CancelAsync();
        await collector;
        Assert.True(collections > 0);
    }

    [Fact]
    public void OpenTelemetry_exports_the_meter()
    {
        using var world = new World(16 * MiB);
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        world.Mm.Mmap(Base, (ulong)MiB);
        for (ulong offset = 0; offset < (ulong)MiB; offset += Page)
            world.Mm.Write(Base + offset);
        var exported = new List<MetricSnapshot>();
        using (MeterProvider provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(MeterNames)
            .AddInMemoryExporter(exported)
            .Build())
        {
            provider.ForceFlush();
        }

        // The flush exports every instrument once; the provider's disposal exports them again.
        long Sum(string name, params (string Key, object Value)[] tags)
        {
            MetricSnapshot metric = exported.First(m => m.Name == name);
            long sum = 0;
            foreach (MetricPoint point in metric.MetricPoints)
            {
                var pointTags = new Dictionary<string, object?>();
                foreach (KeyValuePair<string, object?> tag in point.Tags)
                    pointTags[tag.Key] = tag.Value;
                if (!Equals(pointTags["arena"], world.Arena.Id) || !tags.All(t => Equals(pointTags[t.Key], t.Value)))
                    continue;
                sum += metric.MetricType == MetricType.LongSum ? point.GetSumLong() : point.GetGaugeLastValueLong();
            }

            return sum;
        }

        Assert.Equal(16, Sum("largefolios.faults"));
        Assert.Equal(16, Sum("largefolios.mthp.events", ("size", "64kB"), ("stat", "anon_fault_alloc")));
        Assert.Equal(world.Arena.GetBuddyInfo().FreeBlocks(10) << 10, Sum("largefolios.buddy.free_pages", ("order", 10)));
        Assert.Equal(world.Machine.PageTablePages, Sum("largefolios.page_table.pages"));
        world.TearDownAndAssertNoLeak();
    }

    /// <summary>Every instrument of the two meters, and the meter it was published on.</summary>
    private static Dictionary<string, string> MeterOfEachInstrument()
    {
        var meters = new Dictionary<string, string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (MeterNames.Contains(instrument.Meter.Name))
                meters[instrument.Name] = instrument.Meter.Name;
        };
        listener.Start();
        return meters;
    }

    private static double Single(
        Dictionary<string, List<(double Value, Dictionary<string, object?> Tags)>> seen, string instrument, params (string Key, object Value)[] tags)
    {
        Assert.True(seen.ContainsKey(instrument), $"{instrument} reported nothing for the arena");
        return Assert.Single(seen[instrument], m => tags.All(t => Equals(m.Tags[t.Key], t.Value))).Value;
    }

    /// <summary>One collection of every observable instrument of the meter, this arena's measurements only.</summary>
    private static Dictionary<string, List<(double Value, Dictionary<string, object?> Tags)>> Collect(int? arenaId)
    {
        var seen = new Dictionary<string, List<(double, Dictionary<string, object?>)>>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (MeterNames.Contains(instrument.Meter.Name))
                l.EnableMeasurementEvents(instrument);
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var tagMap = new Dictionary<string, object?>();
            foreach (var tag in tags)
                tagMap[tag.Key] = tag.Value;
            if (arenaId != null && !Equals(tagMap["arena"], arenaId))
                return;
            if (!seen.TryGetValue(instrument.Name, out var list))
                seen[instrument.Name] = list = [];
            list.Add((value, tagMap));
        }

        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        listener.Start();
        listener.RecordObservableInstruments();
        return seen;
    }
}
