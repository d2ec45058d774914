using System;
using System.Collections.Generic;
using System.Linq;
using CsCheck;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Random sequences of syscalls, loads, stores, policy changes, shrinker runs and debugfs splits
/// in an 8 MiB window at 0x40000000, replayed on a small metadata-only machine and on a shadow
/// model of what is mapped, with which protection, and which pages hold data. After every step the
/// machine's full invariant check runs (every PTE's folio, mapcounts, refcounts, nr_anon per size,
/// nr_anon_partially_mapped, the deferred-split queue); at the end every page must be back in
/// the arena, merged.
/// </summary>
public sealed class AccountingPropertyTests
{
    private const int WindowPages = 2048;        // 8 MiB
    private const int OutsidePages = 16;         // accesses may land this far past the window

    private enum Kind
    {
        Mmap,
        Munmap,
        Madvise,
        Write,
        Touch,
        Read,
        SizePolicy,
        GlobalPolicy,
        Shrink,
        Split,
        MaxPtesNone,
        Fragment,
    }

    /// <summary>One step; what A..D mean depends on the kind (see <see cref="Apply"/>).</summary>
    private readonly record struct Step(Kind Kind, int A, int B, int C, int D)
    {
        public override string ToString() => $"{Kind}({A},{B},{C},{D})";
    }

    private static readonly Gen<int> Length = Gen.Frequency(
        (3, Gen.Int[1, 32]),
        (2, Gen.Int[1, 600]),
        (1, Gen.Int[1, WindowPages]));

    private static readonly Gen<Step> StepGen = Gen.Frequency(
        (4, Gen.Select(Gen.Int[0, WindowPages - 1], Length, Gen.Int[0, 7], (a, b, c) => new Step(Kind.Mmap, a, b, c, 0))),
        (2, Gen.Select(Gen.Int[0, WindowPages - 1], Length, Gen.Int[0, 7], (a, b, c) => new Step(Kind.Munmap, a, b, c, 0))),
        (4, Gen.Select(Gen.Int[0, WindowPages - 1], Length, Gen.Int[0, 7], Gen.Int[0, 3], (a, b, c, d) => new Step(Kind.Madvise, a, b, c, d))),
        (12, Gen.Select(Gen.Int[0, WindowPages + OutsidePages - 1], Gen.Int[0, 4095], Gen.Int[0, 255], (a, b, c) => new Step(Kind.Write, a, b, c, 0))),
        (4, Gen.Select(Gen.Int[0, WindowPages - 1], Length, Gen.Int[1, 9], Gen.Int[0, 3], (a, b, c, d) => new Step(Kind.Touch, a, b, c, d))),
        (4, Gen.Select(Gen.Int[0, WindowPages + OutsidePages - 1], Gen.Int[0, 4095], (a, b) => new Step(Kind.Read, a, b, 0, 0))),
        (3, Gen.Select(Gen.Int[2, 9], Gen.Int[0, 3], (a, b) => new Step(Kind.SizePolicy, a, b, 0, 0))),
        (1, Gen.Int[0, 2].Select(a => new Step(Kind.GlobalPolicy, a, 0, 0, 0))),
        (2, Gen.Int[0, 4].Select(a => new Step(Kind.Shrink, a, 0, 0, 0))),
        (2, Gen.Select(Gen.Int[0, WindowPages - 1], Length, Gen.Int[0, 8], Gen.Int[-1, 520], (a, b, c, d) => new Step(Kind.Split, a, b, c, d))),
        (1, Gen.Int[0, 511].Select(a => new Step(Kind.MaxPtesNone, a, 0, 0, 0))),
        (1, Gen.Int[0, 2].Select(a => new Step(Kind.Fragment, a, 0, 0, 0))));

    /// <summary>
    /// Where a sequence starts: the global THP setting, each size's setting (orders 2..9), whether
    /// the window starts mapped, and which of its four 2 MiB parts start with MADV_HUGEPAGE.
    /// </summary>
    private readonly record struct Setup(int Global, int[] Sizes, bool Mapped, int HugeParts)
    {
        public override string ToString() => $"Setup(global {Global}, sizes [{string.Join(",", Sizes)}], mapped {Mapped}, huge 0x{HugeParts:x})";
    }

    // Sizes lean towards always and inherit so that large folios are common.
    private static readonly Gen<int> SizeSetting = Gen.Frequency((3, Gen.Const(0)), (2, Gen.Const(1)), (1, Gen.Const(2)), (2, Gen.Const(3)));

    private static readonly Gen<Setup> SetupGen = Gen.Select(
        Gen.Frequency((2, Gen.Const(0)), (2, Gen.Const(1)), (1, Gen.Const(2))),
        SizeSetting.Array[8],
        Gen.Frequency((4, Gen.Const(true)), (1, Gen.Const(false))),
        Gen.Int[0, 15],
        (global, sizes, mapped, huge) => new Setup(global, sizes, mapped, huge));

    private static Gen<(Setup Setup, Step[] Steps)> SequenceGen(int maxSteps) =>
        Gen.Select(SetupGen, StepGen.Array[1, maxSteps], (setup, steps) => (setup, steps));

    /// <summary>What the test expects of each page of the window.</summary>
    private sealed class Shadow
    {
        /// <summary>The VMA protection of each page; null when unmapped.</summary>
        public VmaFlags?[] Protection { get; } = new VmaFlags?[WindowPages + OutsidePages];

        /// <summary>Whether each page was written non-zero since it was last zapped.</summary>
        public bool[] Data { get; } = new bool[WindowPages + OutsidePages];

        /// <summary>Folios the test holds to fragment the arena.</summary>
        public List<Folio> Hog { get; } = [];
    }

    private static ulong PageAddress(int page) => Base + ((ulong)page * Page);

    /// <summary>A sub-range of the window: 2 MiB aligned when <paramref name="shape"/> is 0 or 1, else as drawn.</summary>
    private static (int First, int Count) Range(int first, int count, int shape)
    {
        if (shape <= 1)
        {
            first &= ~511;
            count = ((count + 511) / 512) * 512;
        }

        return (first, Math.Min(count, WindowPages - first));
    }

    [Fact]
    public void Random_sequences_keep_every_invariant_and_leak_nothing()
    {
        SequenceGen(60).Sample(
            sequence => Run(sequence.Setup, sequence.Steps, checkLayoutEveryStep: false),
            iter: 100,
            threads: 1,
            print: Print);
    }

    [Fact]
    public void Translate_agrees_with_the_layout_after_any_sequence()
    {
        SequenceGen(40).Sample(
            sequence => Run(sequence.Setup, sequence.Steps, checkLayoutEveryStep: true),
            iter: 50,
            threads: 1,
            print: Print);
    }

    private static string Print((Setup Setup, Step[] Steps) sequence) =>
        sequence.Setup + " " + string.Join(" ", sequence.Steps.Select(s => s.ToString()));

    private static void Run(Setup setup, Step[] steps, bool checkLayoutEveryStep)
    {
        using var world = new World(arenaBytes: 32 * MiB);
        var shadow = new Shadow();
        world.Policy.Enabled = (ThpEnabled)setup.Global;
        for (int order = 2; order <= 9; order++)
            world.Policy.SetSizeEnabled(order, (ThpSizeEnabled)setup.Sizes[order - 2]);
        if (setup.Mapped)
        {
            world.Mm.Mmap(Base, WindowPages * Page);
            for (int p = 0; p < WindowPages; p++)
                shadow.Protection[p] = VmaFlags.Read | VmaFlags.Write;
            for (int part = 0; part < 4; part++)
            {
                if ((setup.HugeParts & (1 << part)) != 0)
                    world.Mm.Madvise(Base + ((ulong)part * Pmd), Pmd, MadviseAdvice.HugePage);
            }
        }

        foreach (Step step in steps)
        {
            Apply(world, shadow, step);
            world.Machine.Validate();
            if (checkLayoutEveryStep)
                LayoutChecks.TranslateAgreesWithLayout(world.Machine, world.Mm);
        }

        LayoutChecks.TranslateAgreesWithLayout(world.Machine, world.Mm);
        CheckContents(world.Mm, shadow);
        foreach (Folio folio in shadow.Hog)
            world.Arena.Free(folio);

        // Every folio alive is counted once, by the size it has.
        long folioPages = world.Mm.GetLayout().Where(r => !r.IsZero).Sum(r => r.Pages);
        Assert.Equal(folioPages, world.Mm.AnonPages);

        world.TearDownAndAssertNoLeak();
    }

    /// <summary>Every mapped page reads back what the shadow says: 1 if it holds data, else 0.</summary>
    private static void CheckContents(AddressSpace mm, Shadow shadow)
    {
        for (int page = 0; page < WindowPages; page++)
        {
            if (shadow.Protection[page] is null)
            {
                Assert.True(mm.Translate(PageAddress(page)).IsNone);
                continue;
            }

            Pte pte = mm.Translate(PageAddress(page));
            if (pte.IsNone)
            {
                Assert.False(shadow.Data[page], $"page 0x{PageAddress(page):x} held data but is no longer mapped");
                continue;
            }

            Assert.Equal(shadow.Data[page] ? 1 : 0, mm.Read(PageAddress(page) + 0x10));
        }
    }

    /// <summary>A store; false when the fault found no memory, which must have changed no mapping.</summary>
    private static bool TryStore(World world, ulong address, byte value)
    {
        string layout = world.Mm.FormatLayout();
        long anon = world.Mm.AnonPages;
        long free = world.Arena.FreePages + world.Arena.CachedPages;
        try
        {
            world.Mm.Write(address, value);
            return true;
        }
        catch (OutOfMemoryException)
        {
            Assert.Equal(layout, world.Mm.FormatLayout());
            Assert.Equal(anon, world.Mm.AnonPages);
            Assert.Equal(free, world.Arena.FreePages + world.Arena.CachedPages);
            return false;
        }
    }

    private static void Apply(World world, Shadow shadow, Step step)
    {
        AddressSpace mm = world.Mm;
        Machine machine = world.Machine;
        switch (step.Kind)
        {
            case Kind.Mmap:
            {
                var (first, count) = Range(step.A, step.B, step.C);
                VmaFlags protection = step.C == 7 ? VmaFlags.Read : VmaFlags.Read | VmaFlags.Write;
                mm.Mmap(PageAddress(first), (ulong)count * Page, protection);
                for (int p = first; p < first + count; p++)
                {
                    shadow.Protection[p] = protection;
                    shadow.Data[p] = false;
                }

                break;
            }

            case Kind.Munmap:
            {
                var (first, count) = Range(step.A, step.B, step.C);
                mm.Munmap(PageAddress(first), (ulong)count * Page);
                for (int p = first; p < first + count; p++)
                {
                    shadow.Protection[p] = null;
                    shadow.Data[p] = false;
                }

                break;
            }

            case Kind.Madvise:
            {
                var (first, count) = Range(step.A, step.B, step.C);
                var advice = (MadviseAdvice)step.D;
                int mapped = Enumerable.Range(first, count).Count(p => shadow.Protection[p] is not null);
                if (mapped == 0)
                {
                    MachineState before = MachineState.Of(world);
                    Assert.Throws<BadAddressException>(() => mm.Madvise(PageAddress(first), (ulong)count * Page, advice));
                    Assert.Equal(before, MachineState.Of(world));
                    break;
                }

                Assert.Equal(mapped == count, mm.Madvise(PageAddress(first), (ulong)count * Page, advice));
                if (advice == MadviseAdvice.DontNeed)
                {
                    for (int p = first; p < first + count; p++)
                    {
                        shadow.Data[p] = false;
                        Assert.True(mm.Translate(PageAddress(p)).IsNone, $"0x{PageAddress(p):x} is still mapped after MADV_DONTNEED");
                    }
                }

                break;
            }

            case Kind.Write:
            {
                ulong address = PageAddress(step.A) + (ulong)step.B;
                byte value = (byte)step.C;
                VmaFlags? protection = shadow.Protection[step.A];
                if (protection is not { } flags || (flags & VmaFlags.Write) == 0)
                {
                    MachineState before = MachineState.Of(world);
                    var fault = Assert.Throws<SegmentationFaultException>(() => mm.Write(address, value));
                    Assert.Equal(address, fault.Address);
                    Assert.Equal(FaultAccess.Write, fault.Access);
                    Assert.Equal(before, MachineState.Of(world));
                    break;
                }

                if (!TryStore(world, address, value))
                    break;
                shadow.Data[step.A] |= value != 0;
                Pte pte = mm.Translate(address);
                Assert.True(pte.IsPresent && pte.IsWritable && !pte.IsSpecial, $"0x{address:x} maps {pte} after a store");
                Assert.Equal(shadow.Data[step.A] ? 1 : 0, mm.Read(address));
                break;
            }

            case Kind.Touch:
            {
                // Stores to every C-th page of a range, skipping what a store cannot reach.
                var (first, count) = Range(step.A, step.B, step.D);
                for (int p = first; p < first + count; p += step.C)
                {
                    if (shadow.Protection[p] is not { } flags || (flags & VmaFlags.Write) == 0)
                        continue;
                    if (!TryStore(world, PageAddress(p) + (ulong)(p % 4096), 1))
                        break;
                    shadow.Data[p] = true;
                }

                break;
            }

            case Kind.Read:
            {
                ulong address = PageAddress(step.A) + (ulong)step.B;
                if (shadow.Protection[step.A] is null)
                {
                    MachineState before = MachineState.Of(world);
                    var fault = Assert.Throws<SegmentationFaultException>(() => mm.Read(address));
                    Assert.Equal(address, fault.Address);
                    Assert.Equal(FaultAccess.Read, fault.Access);
                    Assert.Equal(before, MachineState.Of(world));
                    break;
                }

                MachineState state = MachineState.Of(world);
                byte loaded;
                try
                {
                    loaded = mm.Read(address);
                }
                catch (OutOfMemoryException)
                {
                    // No page for a PTE table: VM_FAULT_OOM, nothing mapped.
                    Assert.Equal(state, MachineState.Of(world));
                    break;
                }

                Assert.Equal(shadow.Data[step.A] ? 1 : 0, loaded);
                Assert.True(mm.Translate(address).IsPresent);
                break;
            }

            case Kind.SizePolicy:
                machine.Policy.SetSizeEnabled(step.A, (ThpSizeEnabled)step.B);
                break;

            case Kind.GlobalPolicy:
                machine.Policy.Enabled = (ThpEnabled)step.A;
                break;

            case Kind.Shrink:
            {
                long queued = machine.DeferredSplitQueue.Length;
                long split = machine.ShrinkDeferredSplit(step.A == 0 ? long.MaxValue : step.A);
                Assert.InRange(split, 0, step.A == 0 ? queued : Math.Min(queued, step.A));
                break;
            }

            case Kind.Split:
            {
                var (first, count) = Range(step.A, step.B, step.C % 4);
                long anon = mm.AnonPages;
                int split = mm.SplitFolios(PageAddress(first), (ulong)count * Page, step.C, step.D);
                Assert.True(split >= 0);
                if (step.C == 1)
                    Assert.Equal(0, split);          // order 1 is refused for anon
                Assert.True(mm.AnonPages <= anon);  // a split maps nothing new; zero pieces leave
                break;
            }

            case Kind.MaxPtesNone:
                machine.Policy.MaxPtesNone = step.A;
                break;

            case Kind.Fragment:
            {
                // 0: give the hogged memory back; 1: leave only order-2 blocks free (one in four
                // pages); 2: hold one page of every 2 MiB block, so no PMD-sized block is free.
                foreach (Folio folio in shadow.Hog)
                    world.Arena.Free(folio);
                shadow.Hog.Clear();
                if (step.A == 0)
                    break;
                var taken = new List<Folio>();
                while (world.Arena.TryAllocate(0, out Folio folio))
                    taken.Add(folio);
                foreach (Folio folio in taken)
                {
                    bool keep = step.A == 1 ? folio.Pfn % 16 >= 4 : folio.Pfn % 512 == 100;
                    if (keep)
                        shadow.Hog.Add(folio);
                    else
                        world.Arena.Free(folio);
                }

                break;
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(step), step.Kind, "no such step");
        }
    }
}
