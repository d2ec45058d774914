using System;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;
using AF = LargeFolios.BuddyAllocator.AllocatorEventSource.Fields;
using AIds = LargeFolios.BuddyAllocator.AllocatorEventSource.EventIds;
using FF = LargeFolios.FaultPath.FaultPathEventSource.Fields;
using FIds = LargeFolios.FaultPath.FaultPathEventSource.EventIds;
using PF = LargeFolios.PageTables.PageTableEventSource.Fields;
using PIds = LargeFolios.PageTables.PageTableEventSource.EventIds;

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

        using (EventPipeSession session = StartSession(AllocatorEventSource.AllKeywords, PageTableEventSource.AllKeywords, FaultPathEventSource.AllKeywords))
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
        Assert.All(all, e => Assert.True(e.Payload.ContainsKey(AF.ArenaId), $"event {e.Id} has no arenaId: {string.Join(", ", e.Payload)}"));
        List<Recorded> events = all.Where(e => e.Int(AF.ArenaId) == arenaId).ToList();
        ILookup<(string, int), Recorded> byId = events.ToLookup(e => (e.Provider, e.Id));
        IEnumerable<Recorded> Of(string provider, int id) => byId[(provider, id)];

        // Every provider wrote, and its events name the arena.
        Assert.Equal([AllocatorEventSource.ProviderName, FaultPathEventSource.ProviderName, PageTableEventSource.ProviderName], events.Select(e => e.Provider).Distinct().Order());

        // Faults: a start and a stop per fault, on the same thread, as many as pgfault counted.
        Assert.Equal(9, pgfault);
        Assert.Equal(pgfault, Of(FaultPathEventSource.ProviderName, FIds.FaultStart).Count());
        Assert.Equal(pgfault, Of(FaultPathEventSource.ProviderName, FIds.FaultStop).Count());
        foreach (var (start, stop) in Of(FaultPathEventSource.ProviderName, FIds.FaultStart).Zip(Of(FaultPathEventSource.ProviderName, FIds.FaultStop)))
        {
            Assert.Equal(start.ThreadId, stop.ThreadId);
            Assert.Equal(start.Long(FF.Address), stop.Long(FF.Address));
            Assert.True(stop.Time >= start.Time);
        }

        List<Recorded> folioFaults = Of(FaultPathEventSource.ProviderName, FIds.FaultStop).Where(e => e.Int(FF.Kind) == (int)FaultKind.Folio).ToList();
        Assert.Equal(faultAlloc64K, folioFaults.Count);
        Assert.All(folioFaults, e => Assert.Equal((4, 1L << 4, 0), (e.Int(FF.Order), e.Long(FF.OrdersTried), e.Int(FF.Fallbacks))));
        Recorded zeroFault = Assert.Single(Of(FaultPathEventSource.ProviderName, FIds.FaultStop), e => e.Int(FF.Kind) == (int)FaultKind.ZeroPage);
        Assert.Equal((long)(Base + (ulong)MiB), zeroFault.Long(FF.Address));
        Assert.Equal((int)FaultAccess.Read, Of(FaultPathEventSource.ProviderName, FIds.FaultStart).Single(e => e.Long(FF.Address) == zeroFault.Long(FF.Address)).Int(FF.Access));

        // Every allocation and free of the session, as the arena counted them; all pages came back.
        long allocations = arena.Allocations - allocationsBefore;
        Assert.Equal(allocations, Of(AllocatorEventSource.ProviderName, AIds.FolioAllocated).Count());
        Assert.Equal(arena.Frees - freesBefore, Of(AllocatorEventSource.ProviderName, AIds.FolioFreed).Count());
        Assert.Equal(Of(AllocatorEventSource.ProviderName, AIds.FolioAllocated).Sum(e => 1L << e.Int(AF.Order)), Of(AllocatorEventSource.ProviderName, AIds.FolioFreed).Sum(e => 1L << e.Int(AF.Order)));
        Assert.Equal(8, Of(AllocatorEventSource.ProviderName, AIds.FolioAllocated).Count(e => e.Int(AF.Order) == 4));
        Assert.Contains(Of(AllocatorEventSource.ProviderName, AIds.FolioAllocated), e => e.Int(AF.FromPerCpuCache) == 1);
        Assert.Contains(Of(AllocatorEventSource.ProviderName, AIds.PerCpuRefill), e => e.Int(AF.Blocks) >= 1);
        Assert.Contains(Of(AllocatorEventSource.ProviderName, AIds.PerCpuDrain), e => e.Int(AF.Pages) > 0);
        Assert.Contains(Of(AllocatorEventSource.ProviderName, AIds.BuddyBlockSplit), e => e.Int(AF.FromOrder) > e.Int(AF.ToOrder));
        Assert.Contains(Of(AllocatorEventSource.ProviderName, AIds.BuddyBlockMerged), e => e.Int(AF.ToOrder) > e.Int(AF.FromOrder));
        Assert.Empty(Of(AllocatorEventSource.ProviderName, AIds.AllocationFailed));

        // Page tables: PGD, PUD, PMD and one PTE table, all freed at exit.
        Assert.Equal(4, Of(PageTableEventSource.ProviderName, PIds.PageTableAllocated).Count());
        Assert.Equal(4, Of(PageTableEventSource.ProviderName, PIds.PageTableFreed).Count());
        Assert.Equal(0, Of(PageTableEventSource.ProviderName, PIds.PageTableFreed).Last().Long(PF.TablePages));

        // Splits: the shrinker's and the debugfs one, both uniform to order 0; the order-1 refusal.
        Assert.Equal(2, split);
        Assert.Equal(split, Of(AllocatorEventSource.ProviderName, AIds.FolioSplit).Count());
        Assert.All(Of(AllocatorEventSource.ProviderName, AIds.FolioSplit), e => Assert.Equal((4, 0, 16, 1), (e.Int(AF.OldOrder), e.Int(AF.NewOrder), e.Int(AF.Folios), e.Int(AF.Uniform))));
        // debugfs walks the range page by page (Linux split_huge_pages_pid): each of the folio's 16
        // pages asks for the split again, and each ask is refused.
        Assert.Equal(16, Of(FaultPathEventSource.ProviderName, FIds.FolioSplitRefused).Count());
        Assert.All(Of(FaultPathEventSource.ProviderName, FIds.FolioSplitRefused), e => Assert.Equal(
            (4, 1, (int)FolioSplitRefusal.InvalidOrder), (e.Int(FF.Order), e.Int(FF.NewOrder), e.Int(FF.Reason))));
        // Queued twice, each time partially mapped: the half-zapped folio, and the one debugfs splits,
        // whose PTEs unmap_folio takes out one at a time (the second page's removal finds it partly mapped).
        Assert.Equal(2, Of(FaultPathEventSource.ProviderName, FIds.DeferredSplitQueued).Count());
        Assert.All(Of(FaultPathEventSource.ProviderName, FIds.DeferredSplitQueued), queued => Assert.Equal((4, 1), (queued.Int(FF.Order), queued.Int(FF.PartiallyMapped))));
        Recorded scan = Assert.Single(Of(FaultPathEventSource.ProviderName, FIds.DeferredSplitScan));
        Assert.Equal((1L, 1L, 0L, 0L), (scan.Long(FF.Scanned), scan.Long(FF.Split), scan.Long(FF.Requeued), scan.Long(FF.QueueLength)));

        // mmap, madvise, munmap with their ranges and the pages they zapped.
        Recorded mmap = Assert.Single(Of(FaultPathEventSource.ProviderName, FIds.Mmap));
        Assert.Equal(((long)Base, 4 * MiB, 3), (mmap.Long(FF.Start), mmap.Long(FF.Length), mmap.Int(FF.Protection)));
        Recorded dontneed = Assert.Single(Of(FaultPathEventSource.ProviderName, FIds.Madvise));
        Assert.Equal(((int)MadviseAdvice.DontNeed, 32 * KiB, 8L), (dontneed.Int(FF.Advice), dontneed.Long(FF.Length), dontneed.Long(FF.PagesZapped)));
        Recorded munmap = Assert.Single(Of(FaultPathEventSource.ProviderName, FIds.Munmap));
        Assert.Equal(((long)Base + (256 * KiB), 64L), (munmap.Long(FF.Start), munmap.Long(FF.PagesZapped)));

        // Free-area snapshots: one when the session enabled the provider, one asked for; the last
        // is the buddy core as GetBuddyInfo saw it.
        var snapshots = Of(AllocatorEventSource.ProviderName, AIds.BuddyFreeArea).GroupBy(e => e.Long(AF.Snapshot)).ToList();
        Assert.Equal(2, snapshots.Count);
        Assert.Equal(64 * MiB / (long)Page, snapshots[0].Sum(e => e.Long(AF.FreeBlocks) << e.Int(AF.Order)));
        Assert.Equal(buddyAtSnapshot.FreeBlocksPerOrder.ToArray(), snapshots[1].OrderBy(e => e.Int(AF.Order)).Select(e => e.Long(AF.FreeBlocks)).ToArray());
    }

    [Fact]
    public async Task Faults_racing_on_several_threads_each_get_a_start_and_a_stop_on_their_own_thread()
    {
        const int threads = 4, pages = 1024;
        using var arena = new Arena(64 * MiB, options: new ArenaOptions { MetadataOnly = true });
        var stream = new MemoryStream();
        long pgfault, spurious;
        using (EventPipeSession session = StartSession(AllocatorEventSource.Keywords.Buddy, 0, FaultPathEventSource.Keywords.Faults))
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

        List<Recorded> faults = Parse(stream).Where(e => e.Provider == FaultPathEventSource.ProviderName && e.Id is FIds.FaultStart or FIds.FaultStop && e.Int(FF.ArenaId) == arena.Id).ToList();
        Assert.Equal(2 * pgfault, faults.Count);
        Assert.Equal(threads, faults.Select(e => e.ThreadId).Distinct().Count());
        foreach (IGrouping<int, Recorded> thread in faults.GroupBy(e => e.ThreadId))
        {
            // On one thread the events alternate: each start is followed by its own stop.
            List<Recorded> sequence = thread.ToList();
            Assert.True(sequence.Count % 2 == 0, $"thread {thread.Key} has an unpaired event");
            for (int i = 0; i < sequence.Count; i += 2)
            {
                Assert.Equal((FIds.FaultStart, FIds.FaultStop), (sequence[i].Id, sequence[i + 1].Id));
                Assert.Equal(sequence[i].Long(FF.Address), sequence[i + 1].Long(FF.Address));
            }
        }

        List<Recorded> stops = faults.Where(e => e.Id == FIds.FaultStop).ToList();
        Assert.Equal(2 * pages / 4, stops.Count(e => e.Int(FF.Kind) == (int)FaultKind.Folio));
        Assert.Equal(spurious, stops.Count(e => e.Int(FF.Kind) == (int)FaultKind.AlreadyMapped));
    }

    /// <summary>A session on the three providers with these keywords (0: that provider not enabled).</summary>
    private static EventPipeSession StartSession(EventKeywords allocator, EventKeywords pageTables, EventKeywords faultPath)
    {
        (EventSource Source, EventKeywords Keywords)[] wanted = [(AllocatorEventSource.Log, allocator), (PageTableEventSource.Log, pageTables), (FaultPathEventSource.Log, faultPath)];
        List<EventPipeProvider> providers = wanted.Where(p => p.Keywords != 0).Select(p => new EventPipeProvider(p.Source.Name, EventLevel.Verbose, (long)p.Keywords)).ToList();
        EventPipeSession session = new DiagnosticsClient(Environment.ProcessId).StartEventPipeSession(providers, requestRundown: false);
        Assert.True(
            SpinWait.SpinUntil(() => wanted.All(p => p.Source.IsEnabled() == (p.Keywords != 0)), TimeSpan.FromSeconds(10)),
            "the session never enabled the providers");
        return session;
    }

    /// <summary>One event of the three providers, its payload by field name.</summary>
    private sealed record Recorded(string Provider, int Id, int ThreadId, double Time, Dictionary<string, object> Payload)
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
            if (e.ProviderName is not (AllocatorEventSource.ProviderName or PageTableEventSource.ProviderName or FaultPathEventSource.ProviderName)
                || (int)e.ID == 0xFFFE)
            {
                return;
            }

            var payload = new Dictionary<string, object>();
            for (int i = 0; i < e.PayloadNames.Length; i++)
                payload[e.PayloadNames[i]] = e.PayloadValue(i);
            events.Add(new Recorded(e.ProviderName, (int)e.ID, e.ThreadID, e.TimeStampRelativeMSec, payload));
        };
        source.Process();
        return events;
    }
}
