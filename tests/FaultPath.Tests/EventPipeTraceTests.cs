using System;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.BuddyAllocator;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;
using Ids = LargeFolios.BuddyAllocator.LargeFoliosEventSource.EventIds;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// The provider end to end: an EventPipe session on this process (the runtime's own IPC, as
/// dotnet-trace uses it), a workload whose every effect is known, the trace parsed by TraceEvent,
/// and each event checked against what the workload did and what the allocator counted.
/// </summary>
[Collection(EventPipeCollection.Name)]
public sealed class EventPipeTraceTests
{
    private const long KiB = 1024;

    [Fact]
    public async Task A_session_receives_every_event_with_payloads_that_match_the_allocators_counters()
    {
        using var arena = new Arena(64 * MiB, options: new ArenaOptions { MetadataOnly = true });
        int arenaId = arena.Id;
        var stream = new MemoryStream();
        long allocationsBefore, freesBefore;
        BuddyInfo buddyAtSnapshot;
        long pgfault, split, faultAlloc64K;

        using (EventPipeSession session = StartSession(LargeFoliosEventSource.AllKeywords))
        {
            Task copy = session.EventStream.CopyToAsync(stream);
            allocationsBefore = arena.Allocations;
            freesBefore = arena.Frees;

            using (var machine = new Machine(arena))
            {
                machine.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
                machine.Policy.SetSizeEnabled(9, ThpSizeEnabled.Never);
                using (AddressSpace mm = machine.CreateAddressSpace())
                {
                    mm.Mmap(Base, 4 * (ulong)MiB);
                    for (ulong offset = 0; offset < 512 * KiB; offset += Page)
                        mm.Write(Base + offset);          // 8 faults of order 4
                    mm.Read(Base + (ulong)MiB);           // the zero page
                    mm.Madvise(Base, 32 * KiB, MadviseAdvice.DontNeed);   // half a 64K folio: queued
                    machine.ShrinkDeferredSplit();        // splits it to order 0
                    mm.SplitFolios(Base + 64 * KiB, 64 * KiB, 0);
                    mm.SplitFolios(Base + 128 * KiB, 64 * KiB, 1);          // refused: order 1
                    mm.Munmap(Base + 256 * KiB, 256 * KiB);                  // four 64K folios
                    pgfault = machine.Events.Get(VmEvent.PgFault);
                    split = machine.MthpStats.Get(4, MthpStatItem.Split);
                    faultAlloc64K = machine.MthpStats.Get(4, MthpStatItem.AnonFaultAlloc);
                }
            }

            arena.DrainPerCpuCaches();
            arena.TraceFreeAreas();
            buddyAtSnapshot = arena.GetBuddyInfo();
            session.Stop();
            await copy;
        }

        List<Recorded> all = Parse(stream);
        Assert.All(all, e => Assert.True(e.Payload.ContainsKey("arenaId"), $"event {e.Id} has no arenaId: {string.Join(", ", e.Payload)}"));
        List<Recorded> events = all.Where(e => e.Int("arenaId") == arenaId).ToList();
        ILookup<int, Recorded> byId = events.ToLookup(e => e.Id);

        // Faults: a start and a stop per fault, on the same thread, as many as pgfault counted.
        Assert.Equal(9, pgfault);
        Assert.Equal(pgfault, byId[Ids.FaultStart].Count());
        Assert.Equal(pgfault, byId[Ids.FaultStop].Count());
        foreach (var (start, stop) in byId[Ids.FaultStart].Zip(byId[Ids.FaultStop]))
        {
            Assert.Equal(start.ThreadId, stop.ThreadId);
            Assert.Equal(start.Long("address"), stop.Long("address"));
            Assert.True(stop.Time >= start.Time);
        }

        List<Recorded> folioFaults = byId[Ids.FaultStop].Where(e => e.Int("kind") == (int)FaultKind.Folio).ToList();
        Assert.Equal(faultAlloc64K, folioFaults.Count);
        Assert.All(folioFaults, e => Assert.Equal((4, 1L << 4, 0), (e.Int("order"), e.Long("ordersTried"), e.Int("fallbacks"))));
        Recorded zeroFault = Assert.Single(byId[Ids.FaultStop], e => e.Int("kind") == (int)FaultKind.ZeroPage);
        Assert.Equal((long)(Base + (ulong)MiB), zeroFault.Long("address"));
        Assert.Equal(0, byId[Ids.FaultStart].Single(e => e.Long("address") == zeroFault.Long("address")).Int("write"));

        // Every allocation and free of the session, as the arena counted them; all pages came back.
        long allocations = arena.Allocations - allocationsBefore;
        Assert.Equal(allocations, byId[Ids.FolioAllocated].Count());
        Assert.Equal(arena.Frees - freesBefore, byId[Ids.FolioFreed].Count());
        Assert.Equal(byId[Ids.FolioAllocated].Sum(e => 1L << e.Int("order")), byId[Ids.FolioFreed].Sum(e => 1L << e.Int("order")));
        Assert.Equal(8, byId[Ids.FolioAllocated].Count(e => e.Int("order") == 4));
        Assert.Contains(byId[Ids.FolioAllocated], e => e.Int("fromPerCpuCache") == 1);
        Assert.Contains(byId[Ids.PerCpuRefill], e => e.Int("blocks") >= 1);
        Assert.Contains(byId[Ids.PerCpuDrain], e => e.Int("pages") > 0);
        Assert.Contains(byId[Ids.BuddyBlockSplit], e => e.Int("fromOrder") > e.Int("toOrder"));
        Assert.Contains(byId[Ids.BuddyBlockMerged], e => e.Int("toOrder") > e.Int("fromOrder"));
        Assert.Empty(byId[Ids.AllocationFailed]);

        // Page tables: PGD, PUD, PMD and one PTE table, all freed at exit.
        Assert.Equal(4, byId[Ids.PageTableAllocated].Count());
        Assert.Equal(4, byId[Ids.PageTableFreed].Count());
        Assert.Equal(0, byId[Ids.PageTableFreed].Last().Long("tablePages"));

        // Splits: the shrinker's and the debugfs one, both uniform to order 0; the order-1 refusal.
        Assert.Equal(2, split);
        Assert.Equal(split, byId[Ids.FolioSplit].Count());
        Assert.All(byId[Ids.FolioSplit], e => Assert.Equal((4, 0, 16, 1), (e.Int("oldOrder"), e.Int("newOrder"), e.Int("folios"), e.Int("uniform"))));
        // debugfs walks the range page by page (Linux split_huge_pages_pid): each of the folio's 16
        // pages asks for the split again, and each ask is refused.
        Assert.Equal(16, byId[Ids.FolioSplitRefused].Count());
        Assert.All(byId[Ids.FolioSplitRefused], e => Assert.Equal(
            (4, 1, (int)FolioSplitRefusal.InvalidOrder), (e.Int("order"), e.Int("newOrder"), e.Int("reason"))));
        Recorded queued = Assert.Single(byId[Ids.DeferredSplitQueued]);
        Assert.Equal((4, 1), (queued.Int("order"), queued.Int("partiallyMapped")));
        Recorded scan = Assert.Single(byId[Ids.DeferredSplitScan]);
        Assert.Equal((1L, 1L, 0L, 0L), (scan.Long("scanned"), scan.Long("split"), scan.Long("requeued"), scan.Long("queueLength")));

        // mmap, madvise, munmap with their ranges and the pages they zapped.
        Recorded mmap = Assert.Single(byId[Ids.Mmap]);
        Assert.Equal(((long)Base, 4 * MiB, 3), (mmap.Long("start"), mmap.Long("length"), mmap.Int("protection")));
        Recorded dontneed = Assert.Single(byId[Ids.Madvise]);
        Assert.Equal(((int)MadviseAdvice.DontNeed, 32 * KiB, 8L), (dontneed.Int("advice"), dontneed.Long("length"), dontneed.Long("pagesZapped")));
        Recorded munmap = Assert.Single(byId[Ids.Munmap]);
        Assert.Equal(((long)Base + (256 * KiB), 64L), (munmap.Long("start"), munmap.Long("pagesZapped")));

        // Free-area snapshots: one when the session enabled the provider, one asked for; the last
        // is the buddy core as GetBuddyInfo saw it.
        var snapshots = byId[Ids.BuddyFreeArea].GroupBy(e => e.Long("snapshot")).ToList();
        Assert.Equal(2, snapshots.Count);
        Assert.Equal(64 * MiB / (long)Page, snapshots[0].Sum(e => e.Long("freeBlocks") << e.Int("order")));
        Assert.Equal(buddyAtSnapshot.FreeBlocksPerOrder.ToArray(), snapshots[1].OrderBy(e => e.Int("order")).Select(e => e.Long("freeBlocks")).ToArray());
    }

    [Fact]
    public async Task Faults_racing_on_several_threads_each_get_a_start_and_a_stop_on_their_own_thread()
    {
        const int threads = 4, pages = 1024;
        using var arena = new Arena(64 * MiB, options: new ArenaOptions { MetadataOnly = true });
        var stream = new MemoryStream();
        long pgfault, spurious;
        using (EventPipeSession session = StartSession(LargeFoliosEventSource.Keywords.Faults | LargeFoliosEventSource.Keywords.Buddy))
        {
            Task copy = session.EventStream.CopyToAsync(stream);
            using (var machine = new Machine(arena))
            {
                machine.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
                using AddressSpace mm = machine.CreateAddressSpace();
                mm.Mmap(Base, 2 * pages * Page);

                // Each thread first writes one page of every 16 KiB of its own quarter of the first
                // half (faults of its own: a barrier keeps the others out until all are done), then
                // every page of the second half in its own order: those faults race the other
                // threads' for the same 16 KiB, and the losers are spurious.
                using var ownQuarterDone = new Barrier(threads);
                await ConcurrentFaultTests.RunTogether(t =>
                {
                    for (int page = t * (pages / threads); page < (t + 1) * (pages / threads); page += 4)
                        mm.Write(Base + ((ulong)page * Page));
                    ownQuarterDone.SignalAndWait();
                    int[] order = Enumerable.Range(pages, pages).ToArray();
                    new Random(t).Shuffle(order);
                    foreach (int page in order)
                        mm.Write(Base + ((ulong)page * Page));
                }, threads);
                pgfault = machine.Events.Get(VmEvent.PgFault);
                spurious = machine.Events.Get(VmEvent.SpuriousFault);
                machine.Validate();
            }

            session.Stop();
            await copy;
        }

        List<Recorded> faults = Parse(stream).Where(e => e.Id is Ids.FaultStart or Ids.FaultStop && e.Int("arenaId") == arena.Id).ToList();
        Assert.Equal(2 * pgfault, faults.Count);
        Assert.Equal(threads, faults.Select(e => e.ThreadId).Distinct().Count());
        foreach (IGrouping<int, Recorded> thread in faults.GroupBy(e => e.ThreadId))
        {
            // On one thread the events alternate: each start is followed by its own stop.
            List<Recorded> sequence = thread.ToList();
            Assert.True(sequence.Count % 2 == 0, $"thread {thread.Key} has an unpaired event");
            for (int i = 0; i < sequence.Count; i += 2)
            {
                Assert.Equal((Ids.FaultStart, Ids.FaultStop), (sequence[i].Id, sequence[i + 1].Id));
                Assert.Equal(sequence[i].Long("address"), sequence[i + 1].Long("address"));
            }
        }

        List<Recorded> stops = faults.Where(e => e.Id == Ids.FaultStop).ToList();
        Assert.Equal(2 * pages / 4, stops.Count(e => e.Int("kind") == (int)FaultKind.Folio));
        Assert.Equal(spurious, stops.Count(e => e.Int("kind") == (int)FaultKind.AlreadyMapped));
    }

    private static EventPipeSession StartSession(EventKeywords keywords)
    {
        var provider = new EventPipeProvider(LargeFoliosEventSource.ProviderName, EventLevel.Verbose, (long)keywords);
        EventPipeSession session = new DiagnosticsClient(Environment.ProcessId).StartEventPipeSession([provider], requestRundown: false);
        Assert.True(SpinWait.SpinUntil(() => LargeFoliosEventSource.Log.IsEnabled(), TimeSpan.FromSeconds(10)), "the session never enabled the provider");
        return session;
    }

    /// <summary>One event of the provider, its payload by field name.</summary>
    private sealed record Recorded(int Id, int ThreadId, double Time, Dictionary<string, object> Payload)
    {
        public int Int(string field) => Convert.ToInt32(Payload[field], System.Globalization.CultureInfo.InvariantCulture);

        public long Long(string field) => Convert.ToInt64(Payload[field], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static List<Recorded> Parse(MemoryStream trace)
    {
        trace.Position = 0;
        var events = new List<Recorded>();
        using var source = new EventPipeEventSource(trace);
        source.Dynamic.All += e =>
        {
            // Id 0xFFFE is EventSource's manifest, not an event of the provider's own.
            if (e.ProviderName != LargeFoliosEventSource.ProviderName || (int)e.ID == 0xFFFE)
                return;
            var payload = new Dictionary<string, object>();
            for (int i = 0; i < e.PayloadNames.Length; i++)
                payload[e.PayloadNames[i]] = e.PayloadValue(i);
            events.Add(new Recorded((int)e.ID, e.ThreadID, e.TimeStampRelativeMSec, payload));
        };
        source.Process();
        return events;
    }
}
