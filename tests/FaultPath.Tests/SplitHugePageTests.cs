using System;
using System.Collections.Generic;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Ports of Linux 6.18 tools/testing/selftests/mm/split_huge_page_test.c that apply to anonymous
/// memory: <c>split_pmd_zero_pages</c>, <c>split_pmd_thp_to_order</c> (every order but 1),
/// <c>split_pte_mapped_thp</c>, and the non-uniform splits (<c>folio_split</c> through the
/// debugfs in-folio offset) that the selftest exercises on page-cache folios, here on anonymous
/// ones. Memory is real, so the data checks read the bytes back.
/// </summary>
public sealed class SplitHugePageTests
{
    private const int NrThps = 4;
    private const ulong Len = NrThps * Pmd;

    /// <summary>The byte written at offset <paramref name="offset"/> of page <paramref name="page"/> (never 0).</summary>
    private static byte Pattern(int page, int offset) => (byte)(((page * 7) + offset) % 251 + 1);

    private static readonly int[] Offsets = [0, 1, 0x7ff, 0xfff];

    /// <summary>memalign(pmd) + MADV_HUGEPAGE, then a pattern written to every page: <paramref name="nrThps"/> PMD THPs.</summary>
    private static World HugeArea(int nrThps = NrThps, bool pattern = true)
    {
        var world = new World(arenaBytes: 16 * MiB, metadataOnly: false);
        AddressSpace mm = world.Mm;
        ulong len = (ulong)nrThps * Pmd;
        mm.Mmap(Base, len);
        mm.Madvise(Base, len, MadviseAdvice.HugePage);
        for (int page = 0; page < nrThps * 512; page++)
        {
            foreach (int offset in Offsets)
                mm.Write(Base + ((ulong)page * Page) + (ulong)offset, pattern ? Pattern(page, offset) : (byte)0);
        }

        // check_huge_anon(one_page, 4, pmd_pagesize)
        Assert.Equal(nrThps, world.Stat(9, MthpStatItem.NrAnon));
        Assert.Equal(Enumerable.Repeat(9, nrThps), LayoutChecks.FolioOrders(mm, Base, len));
        Assert.All(mm.GetLayout(), run => Assert.Equal(512, run.Pages));
        return world;
    }

    private static void AssertPatternIntact(AddressSpace mm, int pages)
    {
        for (int page = 0; page < pages; page++)
        {
            foreach (int offset in Offsets)
            {
                ulong at = Base + ((ulong)page * Page) + (ulong)offset;
                byte value = mm.Read(at);
                if (value != Pattern(page, offset))
                    Assert.Fail($"byte at 0x{at:x} corrupted: 0x{value:x2}, expected 0x{Pattern(page, offset):x2}");
            }

            byte between = mm.Read(Base + ((ulong)page * Page) + 0x100);
            if (between != 0)
                Assert.Fail($"byte at 0x{Base + ((ulong)page * Page) + 0x100:x} is 0x{between:x2}; expected 0");
        }
    }

    // ------------------------------------------------------------------ split_pmd_thp_to_order

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Split_pmd_thp_to_order(int order)
    {
        using World world = HugeArea();
        AddressSpace mm = world.Mm;
        long free = world.Arena.FreePages + world.Arena.CachedPages;

        Assert.Equal(NrThps, mm.SplitFolios(Base, Len, order));

        AssertPatternIntact(mm, NrThps * 512);

        // check_after_split_folio_orders: expected_orders[order] = 4 << (pmd_order - order).
        List<int> orders = LayoutChecks.FolioOrders(mm, Base, Len);
        Assert.Equal(NrThps << (9 - order), orders.Count);
        Assert.All(orders, o => Assert.Equal(order, o));
        Assert.All(mm.GetLayout(), run => Assert.Equal(1L << order, run.Pages));
        LayoutChecks.TranslateAgreesWithLayout(world.Machine, mm);

        // check_huge_anon(one_page, 0, pmd_pagesize): no PMD mapping is left.
        for (ulong pmd = Base; pmd < Base + Len; pmd += Pmd)
            Assert.False(mm.PageTables.ReadPmd(pmd).IsLeafPmd);

        Assert.Equal(NrThps, world.Stat(9, MthpStatItem.Split));
        Assert.Equal(0, world.Stat(9, MthpStatItem.SplitFailed));
        Assert.Equal(NrThps, world.Event(VmEvent.ThpSplitPage));
        Assert.Equal(NrThps, world.Event(VmEvent.ThpSplitPmd));
        Assert.Equal(0, world.Stat(9, MthpStatItem.NrAnon));
        for (int o = 2; o < 9; o++)
            Assert.Equal(o == order ? NrThps << (9 - order) : 0, world.Stat(o, MthpStatItem.NrAnon));
        Assert.Equal(NrThps * 512, mm.AnonPages);
        Assert.Equal(0, world.Event(VmEvent.ZeroPageRemap));
        Assert.Equal(0, world.Machine.DeferredSplitQueue.Length);
        // The split itself needs no memory and frees none (every page is still mapped).
        Assert.Equal(free, world.Arena.FreePages + world.Arena.CachedPages);
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void Split_to_order_1_is_refused_for_anon_and_changes_nothing()
    {
        using World world = HugeArea(nrThps: 1);
        AddressSpace mm = world.Mm;
        MachineState before = MachineState.Of(world);
        string events = string.Join(",", world.Machine.Events.NonZero());

        Assert.Equal(0, mm.SplitFolios(Base, Pmd, 1));
        Assert.Equal(0, mm.SplitFolios(Base, Pmd, 1, inFolioOffset: 16));

        Assert.Equal(before, MachineState.Of(world));
        Assert.Equal(events, string.Join(",", world.Machine.Events.NonZero()));
        Assert.True(mm.PageTables.ReadPmd(Base).IsLeafPmd, "the refused split still split the PMD mapping");
        Assert.Equal(0, world.Stat(9, MthpStatItem.Split));
        Assert.Equal(0, world.Stat(9, MthpStatItem.SplitFailed));
        AssertPatternIntact(mm, 512);
        world.Machine.Validate();
    }

    [Fact]
    public void Split_to_the_folios_own_order_or_above_is_not_a_split()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        mm.Mmap(Base, Pmd);
        mm.Write(Base);
        MachineState before = MachineState.Of(world);
        Assert.Equal(0, mm.SplitFolios(Base, Pmd, 4));
        Assert.Equal(0, mm.SplitFolios(Base, Pmd, 8));
        Assert.Equal(before, MachineState.Of(world));
        Assert.Throws<ArgumentOutOfRangeException>(() => mm.SplitFolios(Base, Pmd, 9));
        Assert.Throws<ArgumentOutOfRangeException>(() => mm.SplitFolios(Base, Pmd, -1));
        Assert.Equal(before, MachineState.Of(world));
    }

    // ------------------------------------------------------------------ split_pmd_zero_pages

    [Fact]
    public void Split_pmd_zero_pages_maps_the_zero_page_and_drops_rss()
    {
        using World world = HugeArea(pattern: false);
        AddressSpace mm = world.Mm;
        long rssBefore = mm.AnonPages;
        Assert.Equal(NrThps * 512, rssBefore);
        long freeBefore = world.Arena.FreePages + world.Arena.CachedPages;

        Assert.Equal(NrThps, mm.SplitFolios(Base, Len, 0));

        for (ulong at = Base; at < Base + Len; at += 0x3f1)
            Assert.Equal(0, mm.Read(at));
        for (ulong va = Base; va < Base + Len; va += Page)
        {
            Pte pte = mm.Translate(va);
            Assert.True(pte.IsSpecial && pte.Pfn == world.Machine.ZeroPfn, $"0x{va:x} maps {pte}, not the zero page");
        }

        Assert.Equal($"0x{Base:x} {NrThps * 512} zero\nend\n", mm.FormatLayout());
        Assert.Equal(0, mm.AnonPages);
        Assert.True(mm.AnonPages < rssBefore);
        Assert.Equal(NrThps * 512, world.Event(VmEvent.ZeroPageRemap));
        Assert.Equal(NrThps, world.Stat(9, MthpStatItem.Split));
        Assert.DoesNotContain(world.Machine.MthpStats.NonZero(), s => s.Item == MthpStatItem.NrAnon);
        // Every page of the four THPs went back to the arena.
        Assert.Equal(freeBefore + (NrThps * 512), world.Arena.FreePages + world.Arena.CachedPages);

        // Writing again copies the zero page: order 0 (the PMD is a table now).
        mm.Write(Base + 0x1000, 9);
        Assert.Equal(9, mm.Read(Base + 0x1000));
        Assert.Equal(1, mm.AnonPages);
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void Split_keeps_written_pages_and_remaps_only_the_zero_ones()
    {
        using World world = HugeArea(nrThps: 1, pattern: false);
        AddressSpace mm = world.Mm;
        int[] written = [0, 1, 100, 255, 256, 511];
        foreach (int page in written)
            mm.Write(Base + ((ulong)page * Page) + 0x800, (byte)((page % 250) + 1));

        Assert.Equal(1, mm.SplitFolios(Base, Pmd, 0));

        Assert.Equal(written.Length, mm.AnonPages);
        Assert.Equal(512 - written.Length, world.Event(VmEvent.ZeroPageRemap));
        for (int page = 0; page < 512; page++)
        {
            Pte pte = mm.Translate(Base + ((ulong)page * Page));
            bool wasWritten = written.Contains(page);
            Assert.Equal(wasWritten, !pte.IsSpecial);
            Assert.Equal(wasWritten ? (byte)((page % 250) + 1) : (byte)0, mm.Read(Base + ((ulong)page * Page) + 0x800));
        }

        LayoutChecks.TranslateAgreesWithLayout(world.Machine, mm);
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ non-uniform split

    /// <summary>
    /// The folios a non-uniform split leaves, in PFN order, computed as the buddy allocator splits
    /// a block: halve, keep halving the half holding <paramref name="at"/>; an anonymous order-2
    /// folio goes straight to order 0 when the target is 0 (no order-1 anon folios).
    /// </summary>
    private static IEnumerable<int> NonUniformPieces(int order, int target, int at, int start = 0)
    {
        if (order == target)
        {
            yield return order;
            yield break;
        }

        if (order == 2 && target == 0)
        {
            for (int i = 0; i < 4; i++)
                yield return 0;
            yield break;
        }

        int half = 1 << (order - 1);
        foreach (int lowerOrUpper in new[] { start, start + half })
        {
            if (at >= lowerOrUpper && at < lowerOrUpper + half)
            {
                foreach (int piece in NonUniformPieces(order - 1, target, at, lowerOrUpper))
                    yield return piece;
            }
            else
            {
                yield return order - 1;
            }
        }
    }

    [Fact]
    public void Expected_non_uniform_pieces_match_the_documented_example()
    {
        // Arena.SplitNonUniform: order 9 to order 3 at its third order-3 chunk -> 4, 3, 3, 5, 6, 7, 8.
        Assert.Equal([4, 3, 3, 5, 6, 7, 8], NonUniformPieces(9, 3, 16));
        Assert.Equal([0, 0, 0, 0, 2, 3, 4, 5, 6, 7, 8], NonUniformPieces(9, 0, 0));
    }

    public static TheoryData<int, int> NonUniformCases()
    {
        // The selftest's loop: for each order, offsets 0, step max(nr_pages / 4, 1 << order).
        var data = new TheoryData<int, int>();
        foreach (int order in new[] { 0, 2, 3, 4, 5, 6, 7, 8 })
        {
            for (int offset = 0; offset < 512; offset += Math.Max(512 / 4, 1 << order))
                data.Add(order, offset);
        }

        data.Add(0, 511);
        data.Add(3, 16);
        data.Add(2, 37);
        return data;
    }

    [Theory]
    [MemberData(nameof(NonUniformCases))]
    public void Non_uniform_split_of_a_pmd_thp(int order, int offset)
    {
        using World world = HugeArea(nrThps: 2);
        AddressSpace mm = world.Mm;

        // A one-page range, as the selftest uses, so only the first THP is split, and only once.
        Assert.Equal(1, mm.SplitFolios(Base, Page, order, inFolioOffset: offset));

        int[] expected = NonUniformPieces(9, order, offset).ToArray();
        Assert.Equal(expected, LayoutChecks.FolioOrders(mm, Base, Pmd));
        Assert.Equal([9], LayoutChecks.FolioOrders(mm, Base + Pmd, Pmd));

        // The piece holding the offset page has the target order.
        Assert.Equal(order, world.Arena.FolioOf((uint)mm.Translate(Base + ((ulong)offset * Page)).Pfn).Order);

        // The selftest's count: orders order+1..8 once, the target order twice (four times for
        // anon order 0, which skips order 1).
        for (int o = 2; o < 9; o++)
            Assert.Equal(expected.Count(e => e == o), world.Stat(o, MthpStatItem.NrAnon));
        Assert.Equal(1, world.Stat(9, MthpStatItem.NrAnon));
        Assert.Equal(1, world.Stat(9, MthpStatItem.Split));
        if (order > 0)
        {
            for (int o = order + 1; o < 9; o++)
                Assert.Equal(1, expected.Count(e => e == o));
            Assert.Equal(2, expected.Count(e => e == order));
        }

        AssertPatternIntact(mm, 2 * 512);
        LayoutChecks.TranslateAgreesWithLayout(world.Machine, mm);
        Assert.Equal(2 * 512, mm.AnonPages);
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void Non_uniform_split_over_a_whole_range_ends_uniform()
    {
        // split_huge_pages_pid walks page by page: after the first non-uniform split every piece
        // above the target order met later is split again, so the range ends at the target order.
        using World world = HugeArea(nrThps: 1);
        AddressSpace mm = world.Mm;
        Assert.True(mm.SplitFolios(Base, Pmd, 3, inFolioOffset: 16) > 1);
        Assert.Equal(Enumerable.Repeat(3, 64), LayoutChecks.FolioOrders(mm, Base, Pmd));
        Assert.Equal(64, world.Stat(3, MthpStatItem.NrAnon));
        AssertPatternIntact(mm, 512);
        world.Machine.Validate();
    }

    // ------------------------------------------------------------------ mTHP

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(3)]
    public void Split_pte_mapped_mthp_to_lower_orders(int order)
    {
        using var world = new World(arenaBytes: 16 * MiB, metadataOnly: false);
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        mm.Mmap(Base, Pmd);
        for (int page = 0; page < 512; page++)
        {
            foreach (int offset in Offsets)
                mm.Write(Base + ((ulong)page * Page) + (ulong)offset, Pattern(page, offset));
        }

        Assert.Equal(32, world.Stat(4, MthpStatItem.NrAnon));
        Assert.Equal(32, world.Stat(4, MthpStatItem.AnonFaultAlloc));

        Assert.Equal(0, mm.SplitFolios(Base, Pmd, 1));
        Assert.Equal(Enumerable.Repeat(4, 32), LayoutChecks.FolioOrders(mm, Base, Pmd));

        Assert.Equal(32, mm.SplitFolios(Base, Pmd, order));
        Assert.Equal(Enumerable.Repeat(order, 512 >> order), LayoutChecks.FolioOrders(mm, Base, Pmd));
        Assert.Equal(0, world.Stat(4, MthpStatItem.NrAnon));
        Assert.Equal(32, world.Stat(4, MthpStatItem.Split));
        Assert.Equal(0, world.Stat(9, MthpStatItem.Split));
        Assert.Equal(0, world.Event(VmEvent.ThpSplitPage));
        if (order > 0)
            Assert.Equal(512 >> order, world.Stat(order, MthpStatItem.NrAnon));
        AssertPatternIntact(mm, 512);
        LayoutChecks.TranslateAgreesWithLayout(world.Machine, mm);
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }

    [Theory]
    [InlineData(0, 5)]
    [InlineData(0, 15)]
    [InlineData(2, 9)]
    [InlineData(3, 0)]
    public void Non_uniform_split_of_an_mthp(int order, int offset)
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        mm.Mmap(Base, Pmd);
        for (ulong va = Base; va < Base + 0x20000; va += Page)
            mm.Write(va);

        Assert.Equal(1, mm.SplitFolios(Base + 0x10000, Page, order, inFolioOffset: offset));

        int[] expected = NonUniformPieces(4, order, offset).ToArray();
        Assert.Equal(expected, LayoutChecks.FolioOrders(mm, Base + 0x10000, 0x10000));
        Assert.Equal([4], LayoutChecks.FolioOrders(mm, Base, 0x10000));
        Assert.Equal(order, world.Arena.FolioOf((uint)mm.Translate(Base + 0x10000 + ((ulong)offset * Page)).Pfn).Order);
        Assert.Equal(1, world.Stat(4, MthpStatItem.NrAnon));
        Assert.Equal(1, world.Stat(4, MthpStatItem.Split));
        for (int o = 2; o < 4; o++)
            Assert.Equal(expected.Count(e => e == o), world.Stat(o, MthpStatItem.NrAnon));
        Assert.Equal(32, mm.AnonPages);
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }

    [Fact]
    public void Split_range_covering_part_of_the_mthps_splits_only_those()
    {
        using var world = new World();
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        mm.Mmap(Base, Pmd);
        for (ulong va = Base; va < Base + Pmd; va += Page)
            mm.Write(va);

        // 0x40018000..0x40021000 touches the second folio (second half) and the third (first page).
        Assert.Equal(2, mm.SplitFolios(Base + 0x18000, 0x9000, 2));
        List<int> orders = LayoutChecks.FolioOrders(mm, Base, Pmd);
        Assert.Equal([4, 2, 2, 2, 2, 2, 2, 2, 2], orders.Take(9));
        Assert.All(orders.Skip(9), o => Assert.Equal(4, o));
        Assert.Equal(30, world.Stat(4, MthpStatItem.NrAnon));
        Assert.Equal(8, world.Stat(2, MthpStatItem.NrAnon));
        world.Machine.Validate();
    }

    // ------------------------------------------------------------------ split_pte_mapped_thp

    [Fact]
    public void Split_pte_mapped_thp()
    {
        using World world = HugeArea();
        AddressSpace mm = world.Mm;

        // Replace each THP's PMD mapping by PTEs without splitting the folio: a VMA boundary at
        // page i of THP i (MADV_NOHUGEPAGE on one page splits the PMD across it).
        for (int i = 0; i < NrThps; i++)
        {
            ulong page = Base + ((ulong)i * Pmd) + ((ulong)(i + 1) * Page);
            Assert.True(mm.Madvise(page, Page, MadviseAdvice.NoHugePage));
        }

        Assert.Equal(NrThps, world.Event(VmEvent.ThpSplitPmd));
        for (int i = 0; i < NrThps; i++)
        {
            ulong thp = Base + ((ulong)i * Pmd);
            Assert.False(mm.PageTables.ReadPmd(thp).IsLeafPmd);
            // is_backed_by_folio(page, pmd_order): still one order-9 folio, mapped by 512 PTEs.
            Assert.Equal(9, world.Arena.FolioOf((uint)mm.Translate(thp + ((ulong)(i + 1) * Page)).Pfn).Order);
        }

        Assert.Equal(NrThps, world.Stat(9, MthpStatItem.NrAnon));
        Assert.Equal(0, world.Stat(9, MthpStatItem.Split));
        Assert.Equal(Enumerable.Repeat(9, NrThps), LayoutChecks.FolioOrders(mm, Base, Len));
        world.Machine.Validate();

        // Split all THPs through one page of each (the selftest splits through the mremap'ed pages).
        for (int i = 0; i < NrThps; i++)
        {
            ulong page = Base + ((ulong)i * Pmd) + ((ulong)(i + 1) * Page);
            Assert.Equal(1, mm.SplitFolios(page, Page, 0));
            Assert.Equal(0, world.Arena.FolioOf((uint)mm.Translate(page).Pfn).Order);
        }

        AssertPatternIntact(mm, NrThps * 512);
        Assert.Equal(Enumerable.Repeat(0, NrThps * 512), LayoutChecks.FolioOrders(mm, Base, Len));
        Assert.Equal(NrThps, world.Stat(9, MthpStatItem.Split));
        Assert.Equal(NrThps, world.Event(VmEvent.ThpSplitPmd));   // the PMDs were already split
        Assert.Equal(0, world.Stat(9, MthpStatItem.NrAnon));
        LayoutChecks.TranslateAgreesWithLayout(world.Machine, mm);
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ extra references

    [Fact]
    public void Folio_with_an_extra_reference_is_not_split()
    {
        using World world = HugeArea(nrThps: 2);
        AddressSpace mm = world.Mm;
        Folio first = world.Arena.FolioOf((uint)mm.Translate(Base).Pfn);
        Assert.Equal(9, first.Order);
        world.Arena.Get(first);   // a GUP pin, say
        string layout = mm.FormatLayout();

        // Only the second THP splits; the pinned one keeps its PMD mapping.
        Assert.Equal(1, mm.SplitFolios(Base, Len / 2, 0));
        Assert.True(mm.PageTables.ReadPmd(Base).IsLeafPmd, "the pinned THP lost its PMD mapping");
        Assert.Equal([9], LayoutChecks.FolioOrders(mm, Base, Pmd));
        Assert.Equal(Enumerable.Repeat(0, 512), LayoutChecks.FolioOrders(mm, Base + Pmd, Pmd));
        Assert.Equal(1, world.Stat(9, MthpStatItem.NrAnon));
        Assert.Equal(1, world.Stat(9, MthpStatItem.Split));
        Assert.NotEqual(layout, mm.FormatLayout());

        // The shrinker cannot split it either, even when it is partially mapped.
        mm.Madvise(Base, Page, MadviseAdvice.DontNeed);
        Assert.Equal(1, world.Machine.DeferredSplitQueue.Length);
        Assert.Equal(0, world.Machine.ShrinkDeferredSplit());
        Assert.Equal(1, world.Machine.DeferredSplitQueue.Length);
        Assert.Equal(1, world.Stat(9, MthpStatItem.NrAnonPartiallyMapped));

        // Unpinned, both work.
        Assert.False(world.Arena.Put(first));
        world.Machine.Validate();
        Assert.Equal(1, world.Machine.ShrinkDeferredSplit());
        Assert.Equal(0, world.Machine.DeferredSplitQueue.Length);
        Assert.Equal(0, world.Stat(9, MthpStatItem.NrAnon));
        Assert.Equal(2, world.Stat(9, MthpStatItem.Split));
        Assert.True(mm.Translate(Base).IsNone);
        for (int page = 1; page < 512; page++)
            Assert.Equal(Pattern(page, 0), mm.Read(Base + ((ulong)page * Page)));
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }

    /// <summary>
    /// Linux's <c>split_huge_pages_pid</c> checks <c>can_split_folio(folio, 0, NULL)</c> before it
    /// takes its own reference and skips (<c>goto next</c>) a folio with extra references: no
    /// split is attempted, so neither <c>split_failed</c> nor <c>thp_split_page_failed</c> is counted.
    /// </summary>
    [Fact]
    public void Debugfs_split_skips_a_pinned_folio_without_counting_a_failure()
    {
        using World world = HugeArea(nrThps: 1);
        AddressSpace mm = world.Mm;
        Folio folio = world.Arena.FolioOf((uint)mm.Translate(Base).Pfn);
        world.Arena.Get(folio);
        try
        {
            Assert.Equal(0, mm.SplitFolios(Base, Pmd, 0));
            Assert.Equal(0, world.Stat(9, MthpStatItem.SplitFailed));
            Assert.Equal(0, world.Event(VmEvent.ThpSplitPageFailed));
        }
        finally
        {
            world.Arena.Put(folio);
        }
    }

    [Fact]
    public void Split_through_a_vma_hole_stops_at_the_hole()
    {
        using World world = HugeArea(nrThps: 2);
        AddressSpace mm = world.Mm;
        // Unmap the first page of the second THP: the split walk stops at the first unmapped address.
        mm.Munmap(Base + Pmd, Page);
        Assert.Equal(1, mm.SplitFolios(Base, Len / 2, 4));
        Assert.Equal(Enumerable.Repeat(4, 32), LayoutChecks.FolioOrders(mm, Base, Pmd));
        Assert.Equal([9], LayoutChecks.FolioOrders(mm, Base + Pmd, Pmd).Distinct());
        world.Machine.Validate();
    }
}
