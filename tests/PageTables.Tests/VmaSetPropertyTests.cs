using System;
using System.Collections.Generic;
using System.Linq;
using CsCheck;
using Xunit;
using static LargeFolios.PageTables.Tests.VmaTestHelpers;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// Long random sequences of mmap / munmap / flag changes / madvise / lookups over a 64-page window,
/// replayed against the set and a per-page model (each page's flags, or unmapped). After every step the
/// set must equal the model's maximal runs of equal flags (which is what complete merging means), the
/// validator must pass, and the lock must be free; every return value and exception is predicted from
/// the model alone.
/// </summary>
public class VmaSetPropertyTests
{
    private const int Pages = 64;
    private const ulong Base = 0x4000_0000;

    // Fixed VMAs well outside the window, so lookups and bounds have neighbours beyond it.
    private static readonly Vma Below = V(Base - 0x10_0000, Base - 0x10_0000 + Page, Rw);
    private static readonly Vma Above = V(Base + 0x100_0000, Base + 0x100_0000 + 2 * Page, R);

    private static readonly VmaFlags[] MapChoices =
    [
        VmaFlags.Read,
        VmaFlags.Read | VmaFlags.Write,
        VmaFlags.Read | VmaFlags.Write | VmaFlags.HugePage,
        VmaFlags.Read | VmaFlags.Write | VmaFlags.NoHugePage,
        VmaFlags.Read | VmaFlags.Exec,
        Rw,
    ];

    private static readonly (VmaFlags Set, VmaFlags Clear)[] ChangeChoices =
    [
        (VmaFlags.HugePage, VmaFlags.NoHugePage),
        (VmaFlags.NoHugePage, VmaFlags.HugePage),
        (VmaFlags.Write, VmaFlags.None),
        (VmaFlags.None, VmaFlags.Write),
        (VmaFlags.None, VmaFlags.HugePage | VmaFlags.NoHugePage),
        (VmaFlags.HugePage, VmaFlags.None),      // impossible on a NoHugePage VMA
        (VmaFlags.Exec, VmaFlags.Write),
    ];

    private enum Kind
    {
        Map,
        Unmap,
        Change,
        Madvise,
        Lookup,
    }

    private readonly record struct Step(Kind Kind, int Page, int Count, int Choice)
    {
        public override string ToString() => $"{Kind}({Page},{Count},{Choice})";
    }

    private static readonly Gen<Step> StepGen = Gen.Frequency(
        (5, Gen.Select(Gen.Int[0, Pages - 1], Gen.Int[1, Pages], Gen.Int[0, MapChoices.Length - 1], (p, n, c) => new Step(Kind.Map, p, n, c))),
        (3, Gen.Select(Gen.Int[0, Pages - 1], Gen.Int[1, Pages], (p, n) => new Step(Kind.Unmap, p, n, 0))),
        (4, Gen.Select(Gen.Int[0, Pages - 1], Gen.Int[1, Pages], Gen.Int[0, ChangeChoices.Length - 1], (p, n, c) => new Step(Kind.Change, p, n, c))),
        (2, Gen.Select(Gen.Int[0, Pages - 1], Gen.Int[1, Pages], Gen.Int[0, 1], (p, n, c) => new Step(Kind.Madvise, p, n, c))),
        (3, Gen.Select(Gen.Int[-2, Pages + 1], Gen.Int[1, Pages], Gen.Int[0, 4095], (p, n, c) => new Step(Kind.Lookup, p, n, c))));

    [Fact]
    public void Random_sequences_match_a_per_page_model()
    {
        StepGen.Array[1, 300].Sample(
            Run,
            iter: 300,
            threads: 1,
            print: steps => string.Join(" ", steps.Select(s => s.ToString())));
    }

    private static void Run(Step[] steps)
    {
        using var set = With(Below, Above);
        var model = new VmaFlags[Pages];
        foreach (Step step in steps)
        {
            Apply(set, model, step);
            Vma[] actual = All(set);
            Vma[] expected = Expected(model);
            Assert.True(expected.SequenceEqual(actual), $"after {step}: expected {Describe(expected)}; got {Describe(actual)}");
            set.Validate();
            Assert.False(set.Lock.IsHeld);
        }
    }

    private static void Apply(VmaSet set, VmaFlags[] model, Step step)
    {
        int first = Math.Clamp(step.Page, 0, Pages - 1);
        int count = Math.Min(step.Count, Pages - first);
        ulong start = Address(first);
        ulong length = (ulong)count * Page;
        switch (step.Kind)
        {
            case Kind.Map:
            {
                Vma[] replaced = Runs(model, first, first + count);
                VmaFlags flags = MapChoices[step.Choice];
                Assert.Equal(replaced, set.Map(start, length, flags));
                Array.Fill(model, flags | VmaFlags.Anonymous | ((flags & VmaFlags.Write) != 0 ? VmaFlags.Account : 0), first, count);
                break;
            }

            case Kind.Unmap:
            {
                Vma[] removed = Runs(model, first, first + count);
                Assert.Equal(removed, set.Unmap(start, length));
                Array.Fill(model, VmaFlags.None, first, count);
                break;
            }

            case Kind.Change:
            case Kind.Madvise:
            {
                bool hugePage = step.Choice == 0;
                (VmaFlags setBits, VmaFlags clearBits) = step.Kind == Kind.Madvise
                    ? (hugePage ? (VmaFlags.HugePage, VmaFlags.NoHugePage) : (VmaFlags.NoHugePage, VmaFlags.HugePage))
                    : ChangeChoices[step.Choice];
                bool anyMapped = false;
                bool allMapped = true;
                bool impossible = false;
                for (int page = first; page < first + count; page++)
                {
                    if (model[page] == VmaFlags.None)
                    {
                        allMapped = false;
                        continue;
                    }

                    anyMapped = true;
                    VmaFlags after = (model[page] & ~clearBits) | setBits;
                    impossible |= (after & (VmaFlags.HugePage | VmaFlags.NoHugePage)) == (VmaFlags.HugePage | VmaFlags.NoHugePage);
                }

                Func<bool> change = step.Kind == Kind.Madvise
                    ? () => set.Madvise(start, length, hugePage)
                    : () => set.ChangeFlags(start, length, setBits, clearBits);
                if (impossible)
                {
                    Assert.Contains("both HugePage and NoHugePage", Assert.Throws<ArgumentException>(() => change()).Message);
                }
                else if (!anyMapped)
                {
                    Assert.Equal(start, Assert.Throws<BadAddressException>(() => change()).Address);
                }
                else
                {
                    Assert.Equal(allMapped, change());
                    for (int page = first; page < first + count; page++)
                    {
                        if (model[page] != VmaFlags.None)
                            model[page] = (model[page] & ~clearBits) | setBits;
                    }
                }

                break;
            }

            case Kind.Lookup:
                CheckLookups(set, model, Address(step.Page) + (ulong)step.Choice, start, length);
                break;
        }
    }

    /// <summary>Each lookup against a linear scan of the expected VMAs; the bounds against the pages themselves.</summary>
    private static void CheckLookups(VmaSet set, VmaFlags[] model, ulong address, ulong start, ulong length)
    {
        Vma[] expected = Expected(model);
        using (set.Lock.Read())
        {
            Assert.Equal(expected.Length, set.Count);
            AssertFound(expected.Where(v => v.Contains(address)), set.TryFind(address, out Vma vma), vma);
            AssertFound(expected.Where(v => v.End > address), set.TryFindFirstAtOrAbove(address, out vma), vma);
            AssertFound(expected.Where(v => v.End <= address).Reverse(), set.TryFindPrevious(address, out vma), vma);
            AssertFound(expected.Where(v => v.Start >= address), set.TryFindNext(address, out vma), vma);
            Assert.Equal(expected.Where(v => v.Start < start + length && v.End > start), set.FindIntersecting(start, length));

            int firstPage = (int)((start - Base) / Page);
            int endPage = firstPage + (int)(length / Page);
            int below = firstPage > 0 ? Array.FindLastIndex(model, firstPage - 1, firstPage, f => f != VmaFlags.None) : -1;
            int above = endPage < Pages ? Array.FindIndex(model, endPage, f => f != VmaFlags.None) : -1;
            ulong floor = below >= 0 ? Address(below + 1) : Below.End;
            ulong ceiling = above >= 0 ? Address(above) : Above.Start;
            Assert.Equal((floor, ceiling), set.GetFreePgtablesBounds(start, length));
        }
    }

    private static void AssertFound(IEnumerable<Vma> candidates, bool found, Vma vma)
    {
        Vma[] first = candidates.Take(1).ToArray();
        Assert.Equal(first.Length == 1, found);
        Assert.Equal(first.Length == 1 ? first[0] : default, vma);
    }

    private static ulong Address(int page) => Base + (ulong)(long)page * Page;

    /// <summary>The whole set the model implies: the fixed neighbours around the window's maximal runs.</summary>
    private static Vma[] Expected(VmaFlags[] model) => [Below, .. Runs(model, 0, Pages), Above];

    /// <summary>Maximal runs of equal flags among mapped pages [<paramref name="from"/>, <paramref name="to"/>).</summary>
    private static Vma[] Runs(VmaFlags[] model, int from, int to)
    {
        var runs = new List<Vma>();
        int page = from;
        while (page < to)
        {
            if (model[page] == VmaFlags.None)
            {
                page++;
                continue;
            }

            int runStart = page;
            while (page < to && model[page] == model[runStart])
                page++;
            runs.Add(new Vma(Address(runStart), Address(page), model[runStart]));
        }

        return runs.ToArray();
    }
}
