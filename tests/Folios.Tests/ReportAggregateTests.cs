using System.Linq;
using LargeFolios.FaultPath;
using LargeFolios.Folios.TraceAnalysis;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>The report's arithmetic on made-up inputs: percentiles, start/stop pairing, time buckets.</summary>
public sealed class ReportAggregateTests
{
    [Fact]
    public void Percentiles_are_nearest_rank()
    {
        LatencySummary summary = LatencySummary.Of(Enumerable.Range(1, 1000).Select(i => (double)i).Reverse());
        Assert.Equal(new LatencySummary(1000, 500, 900, 990, 999, 1000), summary);

        LatencySummary one = LatencySummary.Of([42.0]);
        Assert.Equal(new LatencySummary(1, 42, 42, 42, 42, 42), one);
        Assert.Same(LatencySummary.Empty, LatencySummary.Of([]));
    }

    [Fact]
    public void Starts_and_stops_pair_per_thread()
    {
        var pairs = new FaultLatencyPairer();
        pairs.Start(threadId: 1, arenaId: 1, spaceId: 1, address: 0x1000, timeMs: 1.0);
        pairs.Start(threadId: 2, arenaId: 1, spaceId: 1, address: 0x2000, timeMs: 1.5);
        pairs.Stop(threadId: 1, arenaId: 1, spaceId: 1, address: 0x1000, timeMs: 1.002, FaultKind.Folio, 4);
        pairs.Stop(threadId: 2, arenaId: 1, spaceId: 1, address: 0x2000, timeMs: 1.503, FaultKind.ZeroPage, 0);

        Assert.Equal(2, pairs.Samples.Count);
        Assert.Equal(2_000, pairs.Samples[0].Nanoseconds, precision: 3);
        Assert.Equal((FaultKind.Folio, 4), (pairs.Samples[0].Kind, pairs.Samples[0].Order));
        Assert.Equal(3_000, pairs.Samples[1].Nanoseconds, precision: 3);
        Assert.Equal((0L, 0L), (pairs.UnpairedStarts, pairs.UnpairedStops));
    }

    [Fact]
    public void A_stop_without_its_start_is_counted_not_timed()
    {
        var pairs = new FaultLatencyPairer();
        pairs.Stop(threadId: 1, arenaId: 1, spaceId: 1, address: 0x1000, timeMs: 1.0, FaultKind.Folio, 4);    // began before the session
        pairs.Start(threadId: 1, arenaId: 1, spaceId: 1, address: 0x2000, timeMs: 2.0);
        pairs.Stop(threadId: 1, arenaId: 1, spaceId: 2, address: 0x2000, timeMs: 3.0, FaultKind.Folio, 4);    // another space's fault
        pairs.Start(threadId: 1, arenaId: 1, spaceId: 1, address: 0x3000, timeMs: 4.0);
        pairs.Start(threadId: 1, arenaId: 1, spaceId: 1, address: 0x4000, timeMs: 5.0);                       // the stop of 0x3000 was lost
        pairs.Stop(threadId: 1, arenaId: 1, spaceId: 1, address: 0x4000, timeMs: 6.0, FaultKind.Folio, 4);
        pairs.Start(threadId: 1, arenaId: 1, spaceId: 1, address: 0x5000, timeMs: 7.0);                       // open when the trace ended

        FaultSample timed = Assert.Single(pairs.Samples);
        Assert.Equal(1e6, timed.Nanoseconds, precision: 3);
        Assert.Equal(2, pairs.UnpairedStops);
        Assert.Equal(3, pairs.UnpairedStarts);
    }

    [Fact]
    public void Time_buckets_split_the_span_evenly_and_keep_the_last_allocation()
    {
        var timeline = new OrderTimeline();
        timeline.Add(0.0, 0);
        timeline.Add(2.5, 4);
        timeline.Add(5.0, 4);
        timeline.Add(9.99, 9);
        timeline.Add(10.0, 0);

        var buckets = timeline.Buckets(0, 10, 4);
        Assert.Equal([0.0, 2.5, 5.0, 7.5], buckets.Select(bucket => bucket.StartMs));
        Assert.Equal([1L, 1, 1, 2], buckets.Select(bucket => bucket.ByOrder.Total));
        Assert.Equal(1, buckets[1].ByOrder[4]);
        Assert.Equal((1L, 1L), (buckets[3].ByOrder[9], buckets[3].ByOrder[0]));
    }

    [Fact]
    public void A_trace_of_one_instant_puts_everything_in_the_first_bucket()
    {
        var timeline = new OrderTimeline();
        timeline.Add(3.0, 2);
        timeline.Add(3.0, 2);
        var buckets = timeline.Buckets(3, 3, 10);
        Assert.Equal(2, buckets[0].ByOrder[2]);
        Assert.Equal(2, buckets.Sum(bucket => bucket.ByOrder.Total));
    }
}
