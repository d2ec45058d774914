using System;
using System.Collections.Generic;
using System.Linq;
using LargeFolios.TestSupport;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

public unsafe class SplitTests
{
    public static TheoryData<int> PmdSplitOrders => new() { 0, 1, 2, 3, 4, 5, 6, 7, 8 };

    [Theory]
    [MemberData(nameof(PmdSplitOrders))]
    public void Uniform_split_of_a_pmd_folio_gives_equal_folios_with_data_intact(int newOrder)
    {
        using var arena = new Arena(16 * Arenas.MiB);
        Folio thp = arena.Allocate(PageGeometry.PmdOrder);
        Span<byte> data = thp.AsSpan();
        for (int i = 0; i < data.Length; i++)
            data[i] = (byte)(i * 31 + 7);

        List<Folio> parts = arena.SplitUniform(thp, newOrder).ToList();
        Assert.Equal(512 >> newOrder, parts.Count);
        Assert.All(parts, p => Assert.Equal(newOrder, p.Order));
        Assert.All(parts, p => Assert.Equal(1, p.Refcount));
        Assert.Equal(thp.Pfn, parts[0].Pfn);
        arena.Validate();

        for (int i = 0; i < data.Length; i++)
            Assert.Equal((byte)(i * 31 + 7), thp.Address[i]);
        foreach (Folio part in parts)
            arena.Free(part);
        ArenaAssert.FullyMerged(arena);
    }

    [Theory]
    [MemberData(nameof(PmdSplitOrders))]
    public void Anonymous_pmd_folio_splits_to_every_order_but_1(int newOrder)
    {
        using var arena = new Arena(16 * Arenas.MiB);
        Folio thp = arena.Allocate(PageGeometry.PmdOrder, FolioKind.Anonymous);
        if (newOrder == 1)
        {
            var before = ArenaSnapshot.Take(arena);
            var error = Assert.Throws<OrderOneFolioException>(() => arena.SplitUniform(thp, 1));
            Assert.Contains($"0x{thp.Pfn:x}", error.Message);
            Assert.Contains("order-1", error.Message);
            before.AssertUnchanged(arena);
            return;
        }

        List<Folio> parts = arena.SplitUniform(thp, newOrder).ToList();
        Assert.Equal(512 >> newOrder, parts.Count);
        Assert.All(parts, p => Assert.True(p.IsAnonymous));
        Assert.All(parts, p => Assert.Equal(newOrder >= 2, (arena.Page(p.Pfn + (uint)Math.Min(1, p.Order)).Flags & (ulong)FolioFlags.LargeRmappable) != 0 && p.Order >= 2));
        arena.Validate();
        foreach (Folio part in parts)
            arena.Free(part);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Non_uniform_split_matches_linux_folio_split()
    {
        using var arena = new Arena(16 * Arenas.MiB);
        Folio thp = arena.Allocate(PageGeometry.PmdOrder, FolioKind.Anonymous);
        uint target = thp.Pfn + 16;  // the third order-3 chunk
        List<Folio> parts = arena.SplitNonUniform(thp, 3, target).ToList();
        Assert.Equal(new[] { 4, 3, 3, 5, 6, 7, 8 }, parts.Select(p => p.Order));
        Assert.Equal(target, parts[1].Pfn);
        Assert.Equal(new uint[] { 0, 16, 24, 32, 64, 128, 256 }, parts.Select(p => p.Pfn - thp.Pfn));
        arena.Validate();
        foreach (Folio part in parts)
            arena.Free(part);
        ArenaAssert.FullyMerged(arena);
    }

    [Theory]
    [InlineData(0, new[] { 0, 0, 0, 0, 2, 3, 4, 5, 6, 7, 8 })]
    [InlineData(511, new[] { 8, 7, 6, 5, 4, 3, 2, 0, 0, 0, 0 })]
    [InlineData(6, new[] { 2, 0, 0, 0, 0, 3, 4, 5, 6, 7, 8 })]
    public void Non_uniform_anonymous_split_skips_order_1(int page, int[] expected)
    {
        using var arena = new Arena(16 * Arenas.MiB);
        Folio thp = arena.Allocate(PageGeometry.PmdOrder, FolioKind.Anonymous);
        List<Folio> parts = arena.SplitNonUniform(thp, 0, thp.Pfn + (uint)page).ToList();
        Assert.Equal(expected, parts.Select(p => p.Order));
        Assert.DoesNotContain(parts, p => p.Order == 1);
        arena.Validate();
    }

    [Fact]
    public void Non_uniform_plain_split_keeps_order_1()
    {
        using var arena = new Arena(16 * Arenas.MiB);
        Folio thp = arena.Allocate(PageGeometry.PmdOrder);
        Assert.Equal(new[] { 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 }, TestHelpers.Orders(arena.SplitNonUniform(thp, 0, thp.Pfn)));
        arena.Validate();
    }

    [Fact]
    public void Order_1_plain_folio_splits_to_order_0()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        Folio pair = arena.Allocate(1);
        Assert.Equal(new[] { 0, 0 }, TestHelpers.Orders(arena.SplitUniform(pair, 0)));
        arena.Validate();
        arena.Free(arena.FolioOf(pair.Pfn));
        arena.Free(arena.FolioOf(pair.Pfn + 1));
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void New_heads_inherit_flags_owner_and_index()
    {
        using var arena = new Arena(8 * Arenas.MiB);
        Folio folio = arena.Allocate(4, FolioKind.Anonymous);
        ref PageDescriptor head = ref arena.Forge(folio.Pfn);
        head.Index = 1000;
        head.Mapping = (42UL << 1) | PageDescriptor.MappingAnon;
        head.Flags |= (ulong)(PageFlags.Uptodate | PageFlags.SwapBacked | PageFlags.Dirty);

        foreach (Folio part in arena.SplitUniform(folio, 2))
        {
            ref readonly PageDescriptor newHead = ref arena.Page(part.Pfn);
            Assert.Equal(1000UL + (part.Pfn - folio.Pfn), newHead.Index);
            Assert.Equal((42UL << 1) | 1, newHead.Mapping);
            Assert.Equal((ulong)(PageFlags.Uptodate | PageFlags.SwapBacked | PageFlags.Dirty | PageFlags.Head), newHead.Flags);
        }

        arena.Validate();
    }

    /// <summary>
    /// A large folio's deferred-split list lives in its page 2, which a two-page folio does not
    /// have: a split to (or through) order 1 that set the list up anyway would write it into the
    /// next folio's head. So every split and every free must leave the descriptors around the folio
    /// byte-identical.
    /// </summary>
    [Theory]
    [InlineData(FolioKind.Anonymous)]
    [InlineData(FolioKind.Plain)]
    public void Neighbours_are_byte_identical_after_every_split_and_free(FolioKind kind)
    {
        for (int order = 1; order <= PageGeometry.PmdOrder; order++)
        {
            if (kind == FolioKind.Anonymous && order == 1)
                continue;
            for (int newOrder = 0; newOrder < order; newOrder++)
            {
                if (kind == FolioKind.Anonymous && newOrder == 1)
                    continue;
                foreach (bool uniform in new[] { true, false })
                {
                    foreach (int at in new[] { 0, (1 << order) - 1, (1 << order) / 3 })
                        SplitAmongNeighbours(kind, order, newOrder, uniform, at);
                }
            }
        }
    }

    private static void SplitAmongNeighbours(FolioKind kind, int order, int newOrder, bool uniform, int at)
    {
        // Live neighbours on both sides: the arena is full of folios of the same order.
        using var arena = Arenas.BuddyOnly(8 * Arenas.MiB);
        List<Folio> all = TestHelpers.FillWith(arena, order, kind);
        Folio victim = all[all.Count / 2];
        uint first = victim.Pfn - 3, last = victim.Pfn + (uint)victim.PageCount + 3;
        byte[] Outside() => Enumerable.Range((int)first, (int)(last - first))
            .Where(p => p < victim.Pfn || p >= victim.Pfn + victim.PageCount)
            .SelectMany(p => Bytes(arena.Page((uint)p))).ToArray();

        byte[] before = Outside();
        List<Folio> parts = uniform
            ? arena.SplitUniform(victim, newOrder).ToList()
            : arena.SplitNonUniform(victim, newOrder, victim.Pfn + (uint)at).ToList();
        Assert.Equal(before, Outside());
        arena.Validate();

        foreach (Folio part in parts)
        {
            arena.Free(part);
            Assert.Equal(before, Outside());
        }

        arena.Validate();
    }

    private static byte[] Bytes(PageDescriptor page) => new ReadOnlySpan<byte>(&page, PageDescriptor.Size).ToArray();
}
