using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.Linq;
using LargeFolios.BuddyAllocator;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;
using Ids = LargeFolios.BuddyAllocator.LargeFoliosEventSource.EventIds;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Fault-path events on paths the end-to-end EventPipe test does not take, through an in-process
/// listener: the PMD attempt carried into a PTE-level result, copy on write, out of memory, and a
/// queued PMD THP becoming partially mapped.
/// </summary>
[Collection(EventPipeCollection.Name)]
public sealed class FaultPathEventTests
{
    [Fact]
    public void A_queued_pmd_thp_that_becomes_partially_mapped_is_reported_again()
    {
        using var world = new World(16 * MiB);
        world.Policy.Enabled = ThpEnabled.Always;
        world.Mm.Mmap(Base, Pmd);
        using var listener = new Listener(world.Arena.Id);

        world.Mm.Write(Base);                                       // a PMD THP, queued as underused
        world.Mm.Madvise(Base, Page, MadviseAdvice.DontNeed);       // now partially mapped

        List<EventWrittenEventArgs> queued = listener.Of(Ids.DeferredSplitQueued).ToList();
        Assert.Equal(2, queued.Count);
        Assert.Equal([(9, 0), (9, 1)], queued.Select(e => (e.Int("order"), e.Int("partiallyMapped"))));
        Assert.Equal(1, world.Stat(9, MthpStatItem.SplitDeferred));
        Recorded(listener, Ids.PmdSplit);   // the DONTNEED split the PMD mapping first
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void A_copy_on_write_and_an_out_of_memory_fault_say_which_orders_they_tried()
    {
        using var world = new World(4 * MiB);
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        world.Mm.Mmap(Base, 4 * Pmd);
        world.Mm.Read(Base + Pmd);                                  // the zero page
        using var listener = new Listener(world.Arena.Id);

        world.Mm.Write(Base + Pmd);                                 // copy on write: order 0
        EventWrittenEventArgs cow = Assert.Single(listener.Of(Ids.FaultStop));
        Assert.Equal(((int)FaultKind.CopyOnWrite, 0, 1L, 0), (cow.Int("kind"), cow.Int("order"), cow.Long("ordersTried"), cow.Int("fallbacks")));

        var hog = new List<Folio>();
        while (world.Arena.TryAllocate(0, out Folio page))
            hog.Add(page);
        // Where the PTE table exists, the fault tries 64K, falls back, tries 4K and gives up.
        Assert.Equal(FaultKind.OutOfMemory, world.Mm.HandleFault(Base + Pmd + (64 * Page), FaultAccess.Write).Kind);
        EventWrittenEventArgs oom = listener.Of(Ids.FaultStop).Last();
        Assert.Equal(((int)FaultKind.OutOfMemory, (1L << 4) | 1, 1), (oom.Int("kind"), oom.Long("ordersTried"), oom.Int("fallbacks")));
        Assert.Equal(4, Recorded(listener, Ids.FaultFallback).Int("order"));

        // Where it would need a PTE table first, nothing is tried: the table's page is what failed.
        Assert.Equal(FaultKind.OutOfMemory, world.Mm.HandleFault(Base + (3 * Pmd), FaultAccess.Write).Kind);
        Assert.Equal(0, listener.Of(Ids.FaultStop).Last().Long("ordersTried"));
        Assert.Contains(listener.Of(Ids.AllocationFailed), e => e.Int("order") == 0);
        foreach (Folio page in hog)
            world.Arena.Free(page);
        world.TearDownAndAssertNoLeak();
    }

    private static EventWrittenEventArgs Recorded(Listener listener, int id) => Assert.Single(listener.Of(id));

    /// <summary>Records one arena's events.</summary>
    private sealed class Listener : EventListener
    {
        private readonly int _arenaId;
        private readonly ConcurrentQueue<EventWrittenEventArgs> _events = new();

        public Listener(int arenaId)
        {
            _arenaId = arenaId;
            EnableEvents(LargeFoliosEventSource.Log, EventLevel.Verbose, LargeFoliosEventSource.AllKeywords);
        }

        public IEnumerable<EventWrittenEventArgs> Of(int id) => _events.Where(e => e.EventId == id);

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.Payload is { Count: > 0 } payload && payload[0] is int arena && arena == _arenaId)
                _events.Enqueue(e);
        }
    }
}
