using System;
using System.Collections.Generic;
using System.Linq;
using CsCheck;
using Xunit;
using static LargeFolios.PageTables.Tests.TestArenas;

namespace LargeFolios.PageTables.Tests;

/// <summary>What a visitor saw, in order.</summary>
internal readonly record struct Visit(string Kind, ulong Address, ulong Limit, PageTableLevel Level, Pte Entry);

/// <summary>Records every callback and answers Subtree, or what <see cref="Answer"/> says.</summary>
internal struct RecordingVisitor() : IPageWalkVisitor
{
    public List<Visit> Visits { get; } = [];

    public Func<Visit, WalkAction>? Answer { get; init; }

    public readonly WalkAction PteHole(ulong address, ulong limit, PageTableLevel level) =>
        Record(new Visit("hole", address, limit, level, Pte.None), WalkAction.Continue);

    public readonly WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit) =>
        Record(new Visit(pmd.Value.IsLeafPmd ? "leaf" : "table", address, limit, PageTableLevel.Pmd, pmd.Value), WalkAction.Subtree);

    public readonly WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit) =>
        Record(new Visit("ptes", address, limit, PageTableLevel.Pmd, pmd.Value), WalkAction.Continue);

    private readonly WalkAction Record(Visit visit, WalkAction otherwise)
    {
        Visits.Add(visit);
        return Answer?.Invoke(visit) ?? otherwise;
    }
}

/// <summary>A visitor that only counts (for the bad-input cases, which never reach it).</summary>
internal struct CountingVisitor : IPageWalkVisitor
{
    public int Calls { get; private set; }

    public WalkAction PteHole(ulong address, ulong limit, PageTableLevel level) => Count();

    public WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit) => Count();

    public WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit) => Count();

    private WalkAction Count()
    {
        Calls++;
        return WalkAction.Continue;
    }
}

/// <summary>
/// The range walker (Linux <c>walk_page_range</c>): every part of the range is shown once, in order,
/// as a hole, a PMD entry or the PTEs under one; the visitor's answers steer it.
/// </summary>
public class PageTableWalkTests
{
    private static List<Visit> Walk(PageTableTree tree, ulong start, ulong end, Func<Visit, WalkAction>? answer = null)
    {
        var visitor = new RecordingVisitor { Answer = answer };
        tree.WalkRange(start, end, ref visitor);
        return visitor.Visits;
    }

    [Fact]
    public void An_empty_tree_is_one_hole_per_top_level_entry()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        ulong pgdSpan = 1UL << VirtualAddress.PgdShift;
        ulong start = Base + 0x5000;
        ulong end = Base + pgdSpan + (3UL << 30);   // into the next 512 GiB

        var visits = Walk(tree, start, end);

        Assert.Equal(
            [
                new Visit("hole", start, (Base & ~(pgdSpan - 1)) + pgdSpan, PageTableLevel.Pgd, Pte.None),
                new Visit("hole", (Base & ~(pgdSpan - 1)) + pgdSpan, end, PageTableLevel.Pgd, Pte.None),
            ],
            visits);
    }

    [Fact]
    public void Tables_and_leaves_are_visited_once_each_with_holes_between()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.MapPtes(Base + 0x3000, Rw(0x100), 2);                  // a PTE table in the first 2 MiB
        tree.InstallPmdLeaf(Base + 2 * Pmd, Leaf(0x200), deposit: true);   // a leaf in the second
        tree.MapPtes(Base + (1UL << 30) + 0x1000, Rw(0x400), 1);    // another GiB: a PMD table of its own

        var visits = Walk(tree, Base + 0x1000, Base + (1UL << 30) + Pmd);

        Assert.Equal(
            [
                new Visit("table", Base + 0x1000, Base + Pmd, PageTableLevel.Pmd, tree.ReadPmd(Base)),
                new Visit("ptes", Base + 0x1000, Base + Pmd, PageTableLevel.Pmd, tree.ReadPmd(Base)),
                new Visit("hole", Base + Pmd, Base + 2 * Pmd, PageTableLevel.Pmd, Pte.None),
                new Visit("leaf", Base + 2 * Pmd, Base + 3 * Pmd, PageTableLevel.Pmd, Leaf(0x200)),
            ],
            visits.Take(4));
        // The rest of the first GiB: one hole per none PMD entry; then the second GiB's table.
        Assert.Equal(509, visits.Skip(4).Count(v => v.Kind == "hole" && v.Level == PageTableLevel.Pmd && v.Address < Base + (1UL << 30)));
        Assert.Equal(("table", Base + (1UL << 30)), (visits[^2].Kind, visits[^2].Address));
        Assert.Equal(("ptes", Base + (1UL << 30), Base + (1UL << 30) + Pmd), (visits[^1].Kind, visits[^1].Address, visits[^1].Limit));
        AssertTiles(visits.Where(v => v.Kind != "table").ToList(), Base + 0x1000, Base + (1UL << 30) + Pmd);
    }

    [Fact]
    public void Continue_on_a_table_skips_its_ptes()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.MapPtes(Base, Rw(0x100), 1);

        var visits = Walk(tree, Base, Base + Pmd, v => WalkAction.Continue);

        Assert.Equal(["table"], visits.Select(v => v.Kind));
    }

    [Fact]
    public void Again_after_a_split_walks_the_leafs_ptes()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.InstallPmdLeaf(Base, Leaf(0x200), deposit: true);

        var visits = Walk(tree, Base + 0x10_000, Base + 0x20_000, v =>
        {
            if (v.Kind != "leaf")
                return v.Kind == "ptes" ? WalkAction.Continue : WalkAction.Subtree;
            Assert.Equal(PmdSplitResult.Split, tree.SplitPmdLeaf(Base));
            return WalkAction.Again;
        });

        Assert.Equal(["leaf", "table", "ptes"], visits.Select(v => v.Kind));
        Assert.All(visits, v => Assert.Equal((Base + 0x10_000, Base + 0x20_000), (v.Address, v.Limit)));
        tree.Validate();
    }

    [Fact]
    public void Again_after_filling_a_hole_walks_what_is_there_now()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        ulong start = Base + Pmd + 0x4000;
        ulong end = Base + 2 * Pmd;

        var visits = Walk(tree, start, end, v =>
        {
            if (v.Kind != "hole")
                return v.Kind == "ptes" ? WalkAction.Continue : WalkAction.Subtree;
            tree.MapPtes(v.Address, Rw(0x300), 1);   // a fault would: tables down to the PTE
            return WalkAction.Again;
        });

        Assert.Equal(["hole", "table", "ptes"], visits.Select(v => v.Kind));
        Assert.Equal(PageTableLevel.Pgd, visits[0].Level);
        Assert.Equal((start, end), (visits[2].Address, visits[2].Limit));
    }

    [Fact]
    public void The_walk_ends_at_the_top_of_user_space()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        ulong last = VirtualAddress.TaskSize - 0x1000;
        tree.MapPtes(last, Rw(0x100), 1);

        var visits = Walk(tree, 0, VirtualAddress.TaskSize);

        Assert.Equal(("ptes", VirtualAddress.PmdAlignDown(last), VirtualAddress.TaskSize), (visits[^1].Kind, visits[^1].Address, visits[^1].Limit));
        AssertTiles(visits.Where(v => v.Kind != "table").ToList(), 0, VirtualAddress.TaskSize);
    }

    [Fact]
    public void A_torn_down_tree_cannot_be_walked()
    {
        using var arena = BuddyOnly();
        var tree = new PageTableTree(arena);
        tree.Dispose();
        var visitor = new CountingVisitor();
        Assert.Throws<ObjectDisposedException>(() => tree.WalkRange(Base, Base + Pmd, ref visitor));
        Assert.Equal(0, visitor.Calls);
    }

    /// <summary>
    /// Random trees over two 512 GiB regions and random ranges: the holes, leaves and PTE ranges tile
    /// the range in order, and every page's translation agrees with what the walk showed for it.
    /// </summary>
    [Fact]
    public void Random_trees_and_ranges_are_tiled_in_order_and_match_every_translation()
    {
        ulong[] regions = [Base, Base + (1UL << 30) - Pmd, (Base & ~((1UL << VirtualAddress.PgdShift) - 1)) + (1UL << VirtualAddress.PgdShift)];
        var mapping = Gen.Select(Gen.Int[0, regions.Length - 1], Gen.Int[0, 2 * 512 - 1], Gen.Bool, (region, page, leaf) => (region, page, leaf));
        Gen.Select(mapping.Array[0, 12], Gen.Int[0, regions.Length - 1], Gen.Int[0, 1023], Gen.Int[1, 3000]).Sample(
            (maps, region, firstPage, pages) =>
            {
                using var arena = BuddyOnly(64 * MiB);
                using var tree = new PageTableTree(arena);
                foreach (var (r, page, leaf) in maps)
                {
                    ulong address = regions[r] + ((ulong)page << 12);
                    if (leaf)
                        tree.InstallPmdLeaf(VirtualAddress.PmdAlignDown(address), Leaf(0x200), deposit: false);
                    else if (!tree.ReadPmd(address).IsLeafPmd && tree.ReadPte(address).IsNone)
                        tree.MapPtes(address, Rw((ulong)page + 1), 1);
                }

                ulong start = regions[region] + ((ulong)firstPage << 12);
                ulong end = Math.Min(start + ((ulong)pages << 12), VirtualAddress.TaskSize);
                var visits = Walk(tree, start, end);
                AssertTiles(visits.Where(v => v.Kind != "table").ToList(), start, end);
                foreach (Visit visit in visits.Where(v => v.Kind != "table"))
                {
                    for (ulong va = visit.Address; va < visit.Limit; va += 0x1000)
                    {
                        Pte pmd = tree.ReadPmd(va);
                        switch (visit.Kind)
                        {
                            case "hole":
                                Assert.True(pmd.IsNone, $"0x{va:x} is in a hole but its PMD entry is {pmd}");
                                break;
                            case "leaf":
                                Assert.Equal(pmd, visit.Entry);
                                break;
                            default:
                                Assert.True(pmd.IsTable && pmd == visit.Entry, $"0x{va:x} was walked as PTEs under {visit.Entry}, but its PMD entry is {pmd}");
                                break;
                        }
                    }
                }
            },
            iter: 300);
    }

    /// <summary>The visits cover [start, end) exactly, in order, with no gap or overlap.</summary>
    private static void AssertTiles(List<Visit> visits, ulong start, ulong end)
    {
        ulong next = start;
        foreach (Visit visit in visits)
        {
            Assert.True(visit.Address == next, $"a visit at 0x{visit.Address:x}, expected one at 0x{next:x}");
            Assert.True(visit.Limit > visit.Address, $"an empty visit at 0x{visit.Address:x}");
            next = visit.Limit;
        }

        Assert.Equal(end, next);
    }
}
