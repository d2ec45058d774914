using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.Linq;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.PageTables.Tests.TestArenas;
using F = LargeFolios.PageTables.PageTableEventSource.Fields;
using Ids = LargeFolios.PageTables.PageTableEventSource.EventIds;

namespace LargeFolios.PageTables.Tests;

/// <summary>Tests with an event listener: they run alone, as a listener enables the provider for the whole process.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PageTableListenerCollection
{
    public const string Name = "PageTableListener";
}

/// <summary>The page tables' provider: its guard, the table pages a tree allocates and frees, and PMD splits by kind.</summary>
[Collection(PageTableListenerCollection.Name)]
public sealed class PageTableEventTests
{
    [Fact]
    public void The_hot_path_guard_follows_the_listeners()
    {
        Assert.False(PageTableEventSource.IsOn);
        using (var listener = new TreeListener(ownerId: 0))
        {
            Assert.True(PageTableEventSource.IsOn);
            listener.DisableEvents(PageTableEventSource.Log);
            Assert.False(PageTableEventSource.IsOn);
        }

        Assert.False(PageTableEventSource.IsOn);
    }

    [Fact]
    public void Every_table_page_is_an_event_with_its_owner_and_the_count_after()
    {
        using var arena = BuddyOnly();
        using var listener = new TreeListener(ownerId: 7);
        var tree = new PageTableTree(arena, ownerId: 7);
        tree.MapPtes(Base, Rw(0x100), 1);   // PUD, PMD and PTE tables under the PGD
        Assert.Equal(4, tree.TablePages);
        tree.Dispose();

        List<EventWrittenEventArgs> allocated = listener.Of(Ids.PageTableAllocated).ToList();
        Assert.Equal([1L, 2, 3, 4], allocated.Select(e => e.Long(F.TablePages)));
        Assert.All(allocated, e => Assert.Equal((arena.Id, 7), (e.Int(F.ArenaId), e.Int(F.SpaceId))));
        List<EventWrittenEventArgs> freed = listener.Of(Ids.PageTableFreed).ToList();
        Assert.Equal(4, freed.Count);
        Assert.Equal(0, freed[^1].Long(F.TablePages));
        Assert.Equal(allocated.Select(e => e.Long(F.Pfn)).Order(), freed.Select(e => e.Long(F.Pfn)).Order());
    }

    [Fact]
    public void A_pmd_split_says_whether_it_split_a_folio_or_the_huge_zero_page()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena, ownerId: 3);
        tree.InstallPmdLeaf(Base, Leaf(0x200), deposit: true);
        tree.InstallPmdLeaf(Base + Pmd, Pte.Make(0x400, PteFlags.Present | PteFlags.User | PteFlags.Huge | PteFlags.Special), deposit: true);
        using var listener = new TreeListener(ownerId: 3);

        tree.SplitPmdLeaf(Base);
        tree.SplitPmdLeaf(Base + Pmd, zeroPte: Pte.Make(0x1, PteFlags.Present | PteFlags.User | PteFlags.Special));
        Assert.Equal(PmdSplitResult.NotLeaf, tree.SplitPmdLeaf(Base));   // nothing split, nothing said

        List<EventWrittenEventArgs> splits = listener.Of(Ids.PmdSplit).ToList();
        Assert.Equal([((long)Base, (int)PmdSplitKind.Folio), ((long)(Base + Pmd), (int)PmdSplitKind.HugeZeroPage)],
            splits.Select(e => (e.Long(F.Address), e.Int(F.Kind))));
        Assert.All(splits, e => Assert.Equal(3, e.Int(F.SpaceId)));
        tree.ZapRange(Base, Base + 2 * Pmd, null);
    }

    /// <summary>Records the provider's events for one owner's tables (other tests' trees write too).</summary>
    private sealed class TreeListener : EventListener
    {
        private readonly int _ownerId;
        private readonly ConcurrentQueue<EventWrittenEventArgs> _events = new();

        public TreeListener(int ownerId)
        {
            _ownerId = ownerId;
            EnableEvents(PageTableEventSource.Log, EventLevel.Verbose, PageTableEventSource.AllKeywords);
        }

        public IEnumerable<EventWrittenEventArgs> Of(int id) => _events.Where(e => e.EventId == id);

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventSource == PageTableEventSource.Log && e.EventId != 0 && e.Int(F.SpaceId) == _ownerId)
                _events.Enqueue(e);
        }
    }
}
