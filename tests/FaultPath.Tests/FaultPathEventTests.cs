using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;
using FF = LargeFolios.FaultPath.FaultPathEventSource.Fields;
using FIds = LargeFolios.FaultPath.FaultPathEventSource.EventIds;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Fault-path events on paths the end-to-end EventPipe test does not take, through an in-process
/// listener: the provider's guard, the PMD attempt carried into a PTE-level result, copy on write,
/// out of memory, and a queued PMD THP becoming partially mapped.
/// </summary>
[Collection(EventPipeCollection.Name)]
public sealed class FaultPathEventTests
{
    [Fact]
    public void The_hot_path_guard_follows_the_listeners()
    {
        Assert.False(FaultPathEventSource.IsOn);
        using (var listener = new Listener(arenaId: 0))
        {
            Assert.True(FaultPathEventSource.IsOn);
            listener.DisableEvents(FaultPathEventSource.Log);
            Assert.False(FaultPathEventSource.IsOn);
            listener.EnableEvents(FaultPathEventSource.Log, EventLevel.Informational, FaultPathEventSource.Keywords.Syscalls);
            Assert.True(FaultPathEventSource.IsOn);
        }

        Assert.False(FaultPathEventSource.IsOn);
    }

    [Fact]
    public void A_queued_pmd_thp_that_becomes_partially_mapped_is_reported_again()
    {
        using var world = new World(16 * MiB);
        world.Policy.Enabled = ThpEnabled.Always;
        world.Mm.Mmap(Base, Pmd);
        using var listener = new Listener(world.Arena.Id);

        world.Mm.Write(Base);                                       // a PMD THP, queued as underused
        world.Mm.Madvise(Base, Page, MadviseAdvice.DontNeed);       // now partially mapped

        List<EventWrittenEventArgs> queued = listener.Of(FaultPathEventSource.ProviderName, FIds.DeferredSplitQueued).ToList();
        Assert.Equal(2, queued.Count);
        Assert.Equal([(9, 0), (9, 1)], queued.Select(e => (e.Int(FF.Order), e.Int(FF.PartiallyMapped))));
        Assert.Equal(1, world.Stat(9, MthpStatItem.SplitDeferred));
        Recorded(listener, PageTableEventSource.ProviderName, PageTableEventSource.EventIds.PmdSplit);   // the DONTNEED split the PMD mapping first
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void A_copy_on_write_and_an_out_of_memory_fault_say_which_orders_they_tried()
    {
        using var world = new World(4 * MiB);
        world.Machine.Overcommit = OvercommitPolicy.Always;   // 8 MiB mapped on a 4 MiB machine, to run out at fault time
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        world.Mm.Mmap(Base, 4 * Pmd);
        world.Mm.Read(Base + Pmd);                                  // the zero page
        using var listener = new Listener(world.Arena.Id);

        world.Mm.Write(Base + Pmd);                                 // copy on write: order 0
        EventWrittenEventArgs cow = Assert.Single(listener.Of(FaultPathEventSource.ProviderName, FIds.FaultStop));
        Assert.Equal(((int)FaultKind.CopyOnWrite, 0, 1L, 0), (cow.Int(FF.Kind), cow.Int(FF.Order), cow.Long(FF.OrdersTried), cow.Int(FF.Fallbacks)));

        var hog = new List<Folio>();
        while (world.Arena.TryAllocate(0, out Folio page))
            hog.Add(page);
        // Where the PTE table exists, the fault tries 64K, falls back, tries 4K and gives up.
        Assert.Equal(FaultKind.OutOfMemory, world.Mm.HandleFault(Base + Pmd + (64 * Page), FaultAccess.Write).Kind);
        EventWrittenEventArgs oom = listener.Of(FaultPathEventSource.ProviderName, FIds.FaultStop).Last();
        Assert.Equal(((int)FaultKind.OutOfMemory, (1L << 4) | 1, 1), (oom.Int(FF.Kind), oom.Long(FF.OrdersTried), oom.Int(FF.Fallbacks)));
        Assert.Equal(4, Recorded(listener, FaultPathEventSource.ProviderName, FIds.FaultFallback).Int(FF.Order));

        // Where it would need a PTE table first, nothing is tried: the table's page is what failed.
        Assert.Equal(FaultKind.OutOfMemory, world.Mm.HandleFault(Base + (3 * Pmd), FaultAccess.Write).Kind);
        Assert.Equal(0, listener.Of(FaultPathEventSource.ProviderName, FIds.FaultStop).Last().Long(FF.OrdersTried));
        Assert.Contains(listener.Of(AllocatorEventSource.ProviderName, AllocatorEventSource.EventIds.AllocationFailed), e => e.Int(AllocatorEventSource.Fields.Order) == 0);
        foreach (Folio page in hog)
            world.Arena.Free(page);
        world.TearDownAndAssertNoLeak();
    }

    private static EventWrittenEventArgs Recorded(Listener listener, string provider, int id) => Assert.Single(listener.Of(provider, id));

    /// <summary>Records one arena's events, of the three providers.</summary>
    private sealed class Listener : EventListener
    {
        private readonly int _arenaId;
        private readonly ConcurrentQueue<EventWrittenEventArgs> _events = new();

        public Listener(int arenaId)
        {
            _arenaId = arenaId;
            EnableEvents(AllocatorEventSource.Log, EventLevel.Verbose, AllocatorEventSource.AllKeywords);
            EnableEvents(PageTableEventSource.Log, EventLevel.Verbose, PageTableEventSource.AllKeywords);
            EnableEvents(FaultPathEventSource.Log, EventLevel.Verbose, FaultPathEventSource.AllKeywords);
        }

        public IEnumerable<EventWrittenEventArgs> Of(string provider, int id) => _events.Where(e => e.EventSource.Name == provider && e.EventId == id);

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.Payload is { Count: > 0 } payload && payload[0] is int arena && arena == _arenaId)
                _events.Enqueue(e);
        }
    }
}
