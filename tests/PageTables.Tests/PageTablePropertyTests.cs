using System;
using System.Collections.Generic;
using System.Linq;
using CsCheck;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.PageTables.Tests.TestArenas;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// Long random sequences of map / zap / install leaf / split / free tables over four 2 MiB regions
/// (three in one GiB, one in another), replayed against the tree and a page-by-page model. After
/// every step: the validator's full walk, and every page's translation against the model.
/// </summary>
public class PageTablePropertyTests
{
    private const int Regions = 4;
    private const int PagesPerRegion = 512;

    private enum Kind
    {
        Map,
        Zap,
        Leaf,
        Split,
        FreeTables,
    }

    private readonly record struct Step(Kind Kind, int A, int B, int C)
    {
        public override string ToString() => $"{Kind}({A},{B},{C})";
    }

    private static readonly Gen<Step> StepGen = Gen.Frequency(
        (6, Gen.Select(Gen.Int[0, Regions * PagesPerRegion - 1], Gen.Int[1, 40], Gen.Int[0, 4000], (page, nr, pfn) => new Step(Kind.Map, page, nr, pfn))),
        (4, Gen.Select(Gen.Int[0, Regions * PagesPerRegion - 1], Gen.Int[1, 700], (page, nr) => new Step(Kind.Zap, page, nr, 0))),
        (2, Gen.Select(Gen.Int[0, Regions - 1], Gen.Int[0, 7], (region, block) => new Step(Kind.Leaf, region, block, 0))),
        (2, Gen.Int[0, Regions - 1].Select(region => new Step(Kind.Split, region, 0, 0))),
        (1, Gen.Select(Gen.Int[0, Regions - 1], Gen.Int[1, Regions], (region, n) => new Step(Kind.FreeTables, region, n, 0))));

    private static ulong RegionBase(int region) => region < 3 ? Base + ((ulong)region * Pmd) : Base + (1UL << 30);

    private static ulong PageAddress(int page) => RegionBase(page / PagesPerRegion) + ((ulong)(page % PagesPerRegion) << 12);

    [Fact]
    public void Random_sequences_match_the_model_and_keep_every_invariant()
    {
        StepGen.Array[1, 60].Sample(
            Run,
            iter: 150,
            threads: 1,
            print: steps => string.Join(" ", steps.Select(s => s.ToString())));
    }

    private static void Run(Step[] steps)
    {
        using var arena = BuddyOnly(32 * MiB);
        long free = arena.FreePages;
        var tree = new PageTableTree(arena);
        var model = new Model();
        foreach (Step step in steps)
        {
            Apply(tree, model, step);
            tree.Validate();
            model.Check(tree);
        }

        tree.Dispose();
        Assert.Equal(free, arena.FreePages);
    }

    private static void Apply(PageTableTree tree, Model model, Step step)
    {
        switch (step.Kind)
        {
            case Kind.Map:
            {
                int region = step.A / PagesPerRegion;
                int nr = Math.Min(step.B, PagesPerRegion - (step.A % PagesPerRegion));
                ulong address = PageAddress(step.A);
                bool busy = Enumerable.Range(step.A, nr).Any(p => model.Pfn[p] >= 0);
                if (model.Leaf[region])
                {
                    Assert.Equal(WalkResult.PmdLeaf, tree.MapPtes(address, Rw((ulong)step.C), nr));
                }
                else if (busy)
                {
                    Assert.Throws<BadAddressException>(() => tree.MapPtes(address, Rw((ulong)step.C), nr));
                }
                else
                {
                    Assert.Equal(WalkResult.Table, tree.MapPtes(address, Rw((ulong)step.C), nr));
                    for (int i = 0; i < nr; i++)
                        model.Pfn[step.A + i] = step.C + i;
                    model.Table[region] = true;
                }

                break;
            }

            case Kind.Zap:
            {
                // Zaps stay inside one region or run across the three contiguous ones.
                int first = step.A;
                int limit = first < 3 * PagesPerRegion ? 3 * PagesPerRegion : Regions * PagesPerRegion;
                int end = Math.Min(first + step.B, limit);
                var zapped = new List<ZappedEntry>();
                long cleared = tree.ZapRange(PageAddress(first), PageAddress(end - 1) + 0x1000, zapped);
                long expected = 0;
                for (int region = first / PagesPerRegion; region <= (end - 1) / PagesPerRegion; region++)
                {
                    int lo = Math.Max(first, region * PagesPerRegion), hi = Math.Min(end, (region + 1) * PagesPerRegion);
                    if (model.Leaf[region])
                    {
                        model.Leaf[region] = false;
                        if (hi - lo == PagesPerRegion)
                        {
                            expected++;
                            for (int p = lo; p < hi; p++)
                                model.Pfn[p] = -1;
                            continue;
                        }

                        model.Table[region] = true;                     // split, then zapped in part
                    }

                    for (int p = lo; p < hi; p++)
                    {
                        if (model.Pfn[p] >= 0)
                            expected++;
                        model.Pfn[p] = -1;
                    }
                }

                Assert.Equal(expected, cleared);
                Assert.Equal(expected, zapped.Count);
                break;
            }

            case Kind.Leaf:
            {
                int region = step.A;
                ulong pfn = (ulong)(step.B + 1) * 512;
                PmdInstallResult result = tree.InstallPmdLeaf(RegionBase(region), Leaf(pfn), deposit: step.B % 2 == 0);
                if (model.Leaf[region] || model.Table[region])
                {
                    Assert.Equal(PmdInstallResult.NotNone, result);
                }
                else
                {
                    Assert.Equal(PmdInstallResult.Installed, result);
                    model.Leaf[region] = true;
                    for (int i = 0; i < PagesPerRegion; i++)
                        model.Pfn[(region * PagesPerRegion) + i] = (long)pfn + i;
                }

                break;
            }

            case Kind.Split:
            {
                int region = step.A;
                PmdSplitResult result = tree.SplitPmdLeaf(RegionBase(region) + 0x5000);
                Assert.Equal(model.Leaf[region] ? PmdSplitResult.Split : PmdSplitResult.NotLeaf, result);
                if (model.Leaf[region])
                {
                    model.Leaf[region] = false;
                    model.Table[region] = true;
                }

                break;
            }

            case Kind.FreeTables:
            {
                // [region, region + n) clipped to the contiguous regions; no neighbours (floor = ceiling = 0).
                int first = step.A;
                int last = Math.Min(first + step.B, first < 3 ? 3 : Regions) - 1;
                bool mapped = Enumerable.Range(first, last - first + 1).Any(r => model.Leaf[r] || model.Mapped(r));
                ulong start = RegionBase(first), end = RegionBase(last) + Pmd;
                if (mapped)
                {
                    Assert.Throws<BadAddressException>(() => tree.FreePageTables(start, end, 0, 0));
                }
                else
                {
                    tree.FreePageTables(start, end, 0, 0);
                    for (int r = first; r <= last; r++)
                        model.Table[r] = false;
                }

                break;
            }
        }
    }

    private sealed class Model
    {
        public readonly long[] Pfn = Enumerable.Repeat(-1L, Regions * PagesPerRegion).ToArray();
        public readonly bool[] Leaf = new bool[Regions];
        public readonly bool[] Table = new bool[Regions];

        public bool Mapped(int region) => Pfn.AsSpan(region * PagesPerRegion, PagesPerRegion).IndexOfAnyExcept(-1L) >= 0;

        public void Check(PageTableTree tree)
        {
            for (int region = 0; region < Regions; region++)
            {
                Pte pmd = tree.ReadPmd(RegionBase(region));
                Assert.Equal(Leaf[region], pmd.IsLeafPmd);
                Assert.Equal(Table[region], pmd.IsTable);
                for (int i = 0; i < PagesPerRegion; i++)
                {
                    int page = (region * PagesPerRegion) + i;
                    long actual = Leaf[region] ? (long)pmd.Pfn + i : tree.ReadPte(PageAddress(page)) is { IsNone: false } pte ? (long)pte.Pfn : -1;
                    if (actual != Pfn[page])
                        Assert.Fail($"page {page} (0x{PageAddress(page):x}) maps {actual}; the model says {Pfn[page]}");
                }
            }
        }
    }
}
