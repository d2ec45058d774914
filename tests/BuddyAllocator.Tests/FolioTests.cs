using System;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

public unsafe class FolioTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(9)]
    [InlineData(10)]
    public void Folio_exposes_its_aligned_memory(int order)
    {
        using var arena = new Arena(16 * Arenas.MiB);
        Folio folio = arena.Allocate(order);
        Assert.Equal(1 << order, folio.PageCount);
        Assert.Equal(4096L << order, folio.Size);
        Assert.Equal((nuint)arena.PfnToAddress(folio.Pfn), (nuint)folio.Address);
        Assert.Equal(0UL, (ulong)folio.Address % (ulong)folio.Size);
        Span<byte> bytes = folio.AsSpan();
        Assert.Equal(folio.Size, bytes.Length);
        bytes.Fill(0xc3);
        Assert.Equal(0xc3, folio.Address[folio.Size - 1]);
        arena.Free(folio);
    }

    [Fact]
    public void Any_page_finds_its_head()
    {
        using var arena = new Arena(8 * Arenas.MiB);
        Folio folio = arena.Allocate(4);
        for (uint i = 0; i < 16; i++)
        {
            Assert.Equal(folio, arena.FolioOf(folio.Pfn + i));
            Assert.Equal(folio, arena.FolioAt(folio.Address + (i * 4096) + 123));
        }

        Assert.Equal(folio.Pfn + 3, folio.PagePfn(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => folio.PagePfn(16));
        arena.Free(folio);
        var error = Assert.Throws<BadFolioException>(() => arena.FolioOf(folio.Pfn + 3));
        Assert.Equal(BadFolioReason.AlreadyFree, error.Reason);
        Assert.False(arena.TryGetFolio(folio.Pfn, out _));
    }

    [Fact]
    public void Large_folio_layout_matches_linux()
    {
        using var arena = new Arena(8 * Arenas.MiB);
        Folio folio = arena.Allocate(3, FolioKind.Anonymous);
        uint pfn = folio.Pfn;
        ref readonly PageDescriptor head = ref arena.Page(pfn);
        Assert.True(head.IsHead);
        Assert.Equal(0UL, head.CompoundHead);
        Assert.Equal(1, head.Refcount);
        Assert.Equal(-1, head.Mapcount);
        Assert.True(folio.IsAnonymous);

        ref readonly PageDescriptor second = ref arena.Page(pfn + 1);
        Assert.Equal(3, second.FolioOrder);
        Assert.NotEqual(0UL, second.Flags & (ulong)FolioFlags.LargeRmappable);
        Assert.Equal(8u, second.NrPages);
        Assert.Equal(-1, second.EntireMapcount);
        Assert.Equal(-1, second.LargeMapcount);
        Assert.Equal(0, second.NrPagesMapped);
        Assert.Equal(0, second.Pincount);

        ref readonly PageDescriptor third = ref arena.Page(pfn + 2);
        Assert.Equal(pfn, third.DeferredNext);
        Assert.Equal(pfn, third.DeferredPrev);
        Assert.Equal(0UL, third.DeferredQueue);

        for (uint i = 1; i < 8; i++)
        {
            Assert.Equal(pfn, arena.Page(pfn + i).HeadPfn);
            Assert.Equal(0, arena.Page(pfn + i).Refcount);
        }

        for (uint i = 3; i < 8; i++)
            Assert.Equal(PageDescriptor.TailMapping, arena.Page(pfn + i).Mapping);
        arena.Free(folio);
    }

    [Fact]
    public void Order_0_anonymous_folio_is_not_large()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio page = arena.Allocate(0, FolioKind.Anonymous);
        Assert.True(page.IsAnonymous);
        Assert.False(page.IsLarge);
        Assert.False(arena.Page(page.Pfn).IsHead);
        arena.Free(page);
    }

    [Fact]
    public void Anonymous_order_1_is_refused_and_nothing_changes()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        var before = ArenaSnapshot.Take(arena);
        var error = Assert.Throws<OrderOneFolioException>(() => arena.Allocate(1, FolioKind.Anonymous));
        Assert.Contains("order 1", error.Message);
        Assert.Contains("page[2]", error.Message);
        Assert.Throws<OrderOneFolioException>(() => arena.TryAllocate(1, FolioKind.Anonymous, out _));
        before.AssertUnchanged(arena);
    }

    [Fact]
    public void Plain_order_1_folio_leaves_its_neighbour_alone()
    {
        using var arena = Arenas.BuddyOnly(4 * Arenas.MiB);
        Folio pair = arena.Allocate(1);
        Folio neighbour = arena.Allocate(1);
        Assert.Equal(pair.Pfn + 2, neighbour.Pfn);
        PageDescriptor neighbourHead = arena.Page(neighbour.Pfn);
        arena.Free(pair);
        Folio again = arena.Allocate(1);
        Assert.Equal(pair.Pfn, again.Pfn);
        Assert.Equal(neighbourHead, arena.Page(neighbour.Pfn));
        arena.Validate();
    }

    [Fact]
    public void References_count_and_the_last_put_frees()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(2);
        arena.Get(folio);
        Assert.Equal(2, folio.Refcount);
        var shared = Assert.Throws<BadFolioException>(() => arena.Free(folio));
        Assert.Equal(BadFolioReason.StillReferenced, shared.Reason);
        Assert.False(arena.Put(folio));
        Assert.Equal(1, folio.Refcount);
        Assert.True(arena.Put(folio));
        Assert.Equal(0, folio.Refcount);
        var twice = Assert.Throws<BadFolioException>(() => arena.Put(folio));
        Assert.Equal(BadFolioReason.AlreadyFree, twice.Reason);
        Assert.Throws<BadFolioException>(() => arena.Get(folio));
        arena.Validate();
    }

    [Fact]
    public void Handles_compare_by_arena_pfn_and_order()
    {
        using var a = new Arena(4 * Arenas.MiB);
        using var b = new Arena(4 * Arenas.MiB);
        Folio fa = a.Allocate(0);
        Folio fb = b.Allocate(0);
        Assert.Equal(fa.Pfn, fb.Pfn);
        Assert.NotEqual(fa, fb);
        Assert.True(fa == a.FolioOf(fa.Pfn));
        Assert.True(default(Folio).IsNull);
        Assert.Equal("folio (null)", default(Folio).ToString());
        Assert.Throws<InvalidOperationException>(() => default(Folio).Arena);
    }
}
