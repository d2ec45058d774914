using System;
using System.Linq;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>
/// Every bad input gets a specific exception naming the PFN/address and order, and leaves the
/// arena byte-for-byte as it was (snapshot compared, validator run).
/// </summary>
public unsafe class BadInputTests
{
    public static TheoryData<bool> CacheModes => new() { true, false };

    private static Arena Make(bool cached) => cached ? Arenas.SingleCpu(high: 2048) : Arenas.BuddyOnly();

    [Theory]
    [InlineData(-1)]
    [InlineData(11)]
    [InlineData(int.MinValue)]
    public void Order_out_of_range(int order)
    {
        using var arena = new Arena(4 * Arenas.MiB);
        var before = ArenaSnapshot.Take(arena);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => arena.Allocate(order));
        Assert.Contains($"Order {order}", error.Message);
        Assert.Contains("0..10", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => arena.TryAllocate(order, FolioKind.Anonymous, out _));
        before.AssertUnchanged(arena);
    }

    [Theory]
    [MemberData(nameof(CacheModes))]
    public void Double_free(bool cached)
    {
        using var arena = Make(cached);
        foreach (int order in new[] { 0, 3, 9 })
        {
            Folio keep = arena.Allocate(order);   // so the freed folio's block does not vanish into a merge
            Folio folio = arena.Allocate(order);
            arena.Free(folio);
            var before = ArenaSnapshot.Take(arena);
            var error = Assert.Throws<BadFolioException>(() => arena.Free(folio));
            Assert.Equal(BadFolioReason.AlreadyFree, error.Reason);
            Assert.Equal(folio.Pfn, error.Pfn);
            Assert.Equal(order, error.Order);
            Assert.Contains($"PFN 0x{folio.Pfn:x}", error.Message);
            Assert.Contains($"order {order}", error.Message);
            Assert.Contains("already free", error.Message);
            Assert.Throws<BadFolioException>(() => arena.Free(folio.Address));
            before.AssertUnchanged(arena);
            arena.Free(keep);
        }
    }

    [Fact]
    public void Double_free_of_a_page_merged_into_a_larger_block()
    {
        using var arena = Arenas.BuddyOnly();
        Folio folio = arena.Allocate(2);
        arena.Free(folio);
        var before = ArenaSnapshot.Take(arena);
        Assert.Equal(BadFolioReason.AlreadyFree, Assert.Throws<BadFolioException>(() => arena.Free(folio)).Reason);
        before.AssertUnchanged(arena);
    }

    [Theory]
    [MemberData(nameof(CacheModes))]
    public void Freeing_a_tail_page(bool cached)
    {
        using var arena = Make(cached);
        Folio folio = arena.Allocate(4);
        var before = ArenaSnapshot.Take(arena);
        byte* tail = folio.Address + 5 * 4096;
        var error = Assert.Throws<BadFolioException>(() => arena.Free(tail));
        Assert.Equal(BadFolioReason.TailPage, error.Reason);
        Assert.Contains($"PFN 0x{folio.Pfn + 5:x}", error.Message);
        Assert.Contains($"address 0x{(nuint)tail:x}", error.Message);
        Assert.Contains($"tail of the folio at PFN 0x{folio.Pfn:x}", error.Message);
        before.AssertUnchanged(arena);
        arena.Free(folio.Address);
        arena.Validate();
    }

    [Fact]
    public void Freeing_an_address_outside_or_unaligned()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        using var other = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(0);
        var before = ArenaSnapshot.Take(arena);

        var outside = Assert.Throws<BadFolioException>(() => arena.Free(other.BaseAddress));
        Assert.Equal(BadFolioReason.NotInArena, outside.Reason);
        Assert.Contains($"0x{(nuint)other.BaseAddress:x}", outside.Message);

        var unaligned = Assert.Throws<BadFolioException>(() => arena.Free(folio.Address + 8));
        Assert.Equal(BadFolioReason.NotPageAligned, unaligned.Reason);
        Assert.Contains($"0x{(nuint)(folio.Address + 8):x}", unaligned.Message);
        before.AssertUnchanged(arena);
    }

    [Fact]
    public void Freeing_into_the_wrong_arena()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        using var other = new Arena(4 * Arenas.MiB);
        Folio mine = arena.Allocate(0);
        Folio theirs = other.Allocate(0);
        Assert.Equal(mine.Pfn, theirs.Pfn);
        var before = ArenaSnapshot.Take(arena);
        var error = Assert.Throws<BadFolioException>(() => arena.Free(theirs));
        Assert.Equal(BadFolioReason.WrongArena, error.Reason);
        Assert.Contains($"PFN 0x{theirs.Pfn:x} order 0", error.Message);
        Assert.Throws<BadFolioException>(() => arena.SplitUniform(other.Allocate(3), 0));
        Assert.Throws<BadFolioException>(() => arena.Put(theirs));
        Assert.Equal(BadFolioReason.NullFolio, Assert.Throws<BadFolioException>(() => arena.Free(default(Folio))).Reason);
        before.AssertUnchanged(arena);
    }

    [Fact]
    public void Freeing_with_a_handle_kept_across_a_split()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(5);
        _ = arena.SplitUniform(folio, 2).ToList();
        var before = ArenaSnapshot.Take(arena);
        var error = Assert.Throws<BadFolioException>(() => arena.Free(folio));
        Assert.Equal(BadFolioReason.OrderMismatch, error.Reason);
        Assert.Contains("has order 2; expected order 5", error.Message);
        before.AssertUnchanged(arena);
    }

    [Fact]
    public void Freeing_a_mapped_pinned_or_queued_folio()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(3, FolioKind.Anonymous);
        (string Name, Action<bool> Set, BadFolioReason Reason)[] cases =
        [
            ("head mapcount", on => arena.Forge(folio.Pfn).Mapcount = on ? 0 : -1, BadFolioReason.Mapped),
            ("entire mapcount", on => arena.Forge(folio.Pfn + 1).EntireMapcount = on ? 0 : -1, BadFolioReason.Mapped),
            ("nr_pages_mapped", on => arena.Forge(folio.Pfn + 1).NrPagesMapped = on ? 3 : 0, BadFolioReason.Mapped),
            ("pincount", on => arena.Forge(folio.Pfn + 1).Pincount = on ? 1 : 0, BadFolioReason.Pinned),
            ("deferred queue", on => arena.Forge(folio.Pfn + 2).DeferredQueue = on ? 7UL : 0, BadFolioReason.OnDeferredList),
        ];

        foreach (var (name, set, reason) in cases)
        {
            set(true);
            var before = ArenaSnapshot.Take(arena);
            var error = Assert.Throws<BadFolioException>(() => arena.Free(folio));
            Assert.True(reason == error.Reason, name);
            Assert.Contains($"PFN 0x{folio.Pfn:x}", error.Message);
            Assert.Throws<BadFolioException>(() => arena.SplitUniform(folio, 0));
            before.AssertUnchanged(arena);
            set(false);
        }

        arena.Forge(folio.Pfn + 6).Mapcount = 0;
        var tailMapped = Assert.Throws<BadFolioException>(() => arena.SplitUniform(folio, 2));
        Assert.Equal(BadFolioReason.Mapped, tailMapped.Reason);
        Assert.Contains($"page 6 (PFN 0x{folio.Pfn + 6:x})", tailMapped.Message);
        arena.Forge(folio.Pfn + 6).Mapcount = -1;
        arena.Free(folio);
        arena.Validate();
    }

    [Theory]
    [InlineData(PageFlags.Locked)]
    [InlineData(PageFlags.Lru)]
    public void Freeing_a_locked_folio_or_one_on_an_lru(PageFlags flag)
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(3);
        arena.Forge(folio.Pfn).Flags |= (ulong)flag;
        var before = ArenaSnapshot.Take(arena);
        var error = Assert.Throws<BadFolioException>(() => arena.Free(folio));
        Assert.Equal(BadFolioReason.LockedOrOnLru, error.Reason);
        Assert.Contains($"PFN 0x{folio.Pfn:x}", error.Message);
        Assert.Throws<BadFolioException>(() => arena.Put(folio));
        before.AssertUnchanged(arena);

        // Linux splits locked folios: the lock is no obstacle to a split, and the new folios keep it.
        if (flag == PageFlags.Locked)
        {
            foreach (Folio part in arena.SplitUniform(folio, 0))
                Assert.NotEqual(0UL, arena.Page(part.Pfn).Flags & (ulong)PageFlags.Locked);
        }
    }

    [Theory]
    [InlineData(4, 4)]
    [InlineData(4, 5)]
    [InlineData(4, -1)]
    [InlineData(0, 0)]
    public void Splitting_to_an_order_not_below_the_current_one(int order, int newOrder)
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(order);
        var before = ArenaSnapshot.Take(arena);
        var uniform = Assert.Throws<ArgumentOutOfRangeException>(() => arena.SplitUniform(folio, newOrder));
        Assert.Contains($"PFN 0x{folio.Pfn:x}", uniform.Message);
        Assert.Contains($"to order {newOrder}", uniform.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => arena.SplitNonUniform(folio, newOrder, folio.Pfn));
        before.AssertUnchanged(arena);
    }

    [Fact]
    public void Splitting_at_a_page_outside_the_folio()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(4);
        var before = ArenaSnapshot.Take(arena);
        foreach (uint at in new[] { folio.Pfn + 16, folio.Pfn - 1, uint.MaxValue })
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => arena.SplitNonUniform(folio, 0, at));
            Assert.Contains($"PFN 0x{at:x}", error.Message);
        }

        before.AssertUnchanged(arena);
    }

    [Fact]
    public void Splitting_anonymous_to_order_1_non_uniformly()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(6, FolioKind.Anonymous);
        var before = ArenaSnapshot.Take(arena);
        var error = Assert.Throws<OrderOneFolioException>(() => arena.SplitNonUniform(folio, 1, folio.Pfn + 9));
        Assert.Equal(folio.Pfn, error.Pfn);
        before.AssertUnchanged(arena);
    }

    [Fact]
    public void Splitting_a_shared_or_freed_folio()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(4);
        arena.Get(folio);
        var before = ArenaSnapshot.Take(arena);
        Assert.Equal(BadFolioReason.StillReferenced, Assert.Throws<BadFolioException>(() => arena.SplitUniform(folio, 0)).Reason);
        before.AssertUnchanged(arena);
        arena.Put(folio);
        arena.Free(folio);
        before = ArenaSnapshot.Take(arena);
        Assert.Equal(BadFolioReason.AlreadyFree, Assert.Throws<BadFolioException>(() => arena.SplitUniform(folio, 0)).Reason);
        before.AssertUnchanged(arena);
    }

    [Fact]
    public void Bad_options_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Arena(4 * Arenas.MiB, options: new ArenaOptions { PerCpuSets = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Arena(4 * Arenas.MiB, options: new ArenaOptions { PerCpuHigh = -5 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Arena(4 * Arenas.MiB, options: new ArenaOptions { PerCpuBatch = -5 }));
    }

    [Fact]
    public void Pfn_outside_the_arena()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => arena.FolioOf(1024));
        Assert.Contains("PFN 0x400", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => arena.Page(5000));
    }
}
