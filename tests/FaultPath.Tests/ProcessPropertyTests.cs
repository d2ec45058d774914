using System;
using System.Collections.Generic;
using System.Linq;
using CsCheck;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Random sequences over several processes on one machine: mmap, munmap, mprotect, mremap (in place
/// and moving), every madvise advice, loads and stores, fork, switching process, exit, the
/// deferred-split shrinker, THP policy and knob changes and debugfs splits, all in an 8 MiB window
/// at 0x40000000 so that they meet. Each process has a shadow: each page's VMA flags (protection,
/// MADV_[NO]HUGEPAGE, DONTFORK, WIPEONFORK) and what it holds (the byte last stored at each offset
/// with real memory behind the arena; whether a non-zero byte was stored, without). After every
/// step the machine's full invariant check runs, every process's VMAs must agree with its shadow
/// page by page, and every page the shadow says holds data must read back what it says in every
/// live process (copy-on-write isolation: no process sees another's stores). A call Linux would
/// refuse must be refused as the shadow predicts and leave everything valid.
/// </summary>
public sealed class ProcessPropertyTests
{
    private const int WindowPages = 2048;        // 8 MiB
    private const int MaxProcesses = 5;

    /// <summary>The VMA flags the shadow follows; the others (VM_ACCOUNT, the anonymous bit) are the model's business.</summary>
    private const VmaFlags Tracked = VmaFlags.Read | VmaFlags.Write | VmaFlags.DontCopy | VmaFlags.WipeOnFork | VmaFlags.HugePage | VmaFlags.NoHugePage;

    private const VmaFlags Access = VmaFlags.Read | VmaFlags.Write;

    /// <summary>How a syscall's start and length are given.</summary>
    private enum ArgumentShape
    {
        /// <summary>A page-aligned start and whole pages.</summary>
        Whole,

        /// <summary>A length up to a page short of the whole pages, which the call rounds up.</summary>
        Rounded,

        /// <summary>A start that is not page aligned: EINVAL before anything else.</summary>
        Unaligned,

        /// <summary>A zero length: EINVAL for mmap, munmap and mremap, nothing done for mprotect and madvise.</summary>
        Empty,
    }

    private enum Kind
    {
        Mmap,
        Munmap,
        Mprotect,
        MremapInPlace,
        MremapMove,
        Madvise,
        Write,
        Touch,
        Read,
        Fork,
        Switch,
        Exit,
        Shrink,
        SizePolicy,
        GlobalPolicy,
        Knob,
        Split,
    }

    /// <summary>
    /// One step, in the running process unless it says otherwise; pages are the window's (0..2047).
    /// <list type="bullet">
    /// <item>Mmap, Munmap, Mprotect, Madvise, Split: A first page, B pages, C the range's shape
    /// (<see cref="Range"/>); D the protection (0 none, 1 read, 2 read-write), the advice, or the new
    /// order; E the <see cref="ArgumentShape"/>, or for Split the page of the folio to split around (-1: uniform).</item>
    /// <item>MremapInPlace: A old page, B old pages (0: a zero old length), C new pages, D range shape, E argument shape.</item>
    /// <item>MremapMove: A old page, B old pages, C new pages (-1: the same), D new page, E range shape.</item>
    /// <item>Write: A page, B offset, C byte. Read: A page, B offset. Touch: A, B, D a range; a store of
    /// E + page to every C-th page of it that allows one.</item>
    /// <item>Fork: A 1 to run the child next. Switch, Exit: A the process (modulo how many live).
    /// Shrink: A folios to scan (0: all).</item>
    /// <item>SizePolicy: A order, B <see cref="ThpSizeEnabled"/>. GlobalPolicy: A always, madvise, never.
    /// Knob: A <see cref="ThpKnob"/>, B picks its value.</item>
    /// </list>
    /// </summary>
    private readonly record struct Step(Kind Kind, int A, int B, int C, int D, int E)
    {
        public override string ToString() => $"{Kind}({A},{B},{C},{D},{E})";
    }

    private static readonly Gen<int> PageGen = Gen.Int[0, WindowPages - 1];

    private static readonly Gen<int> Length = Gen.Frequency(
        (3, Gen.Int[1, 32]),
        (2, Gen.Int[1, 600]),
        (1, Gen.Int[1, WindowPages]));

    /// <summary>0: whole 2 MiB blocks; 1: whole 64 KiB blocks; 2, 3: as drawn.</summary>
    private static readonly Gen<int> Shape = Gen.Int[0, 3];

    /// <summary>
    /// How a syscall's range is passed (<see cref="ArgumentShape"/>): mostly whole pages; sometimes a
    /// length short of them (rounded up, as Linux's PAGE_ALIGN does), an unaligned start (EINVAL) or a
    /// zero length.
    /// </summary>
    private static readonly Gen<int> Arguments = Gen.Frequency((14, Gen.Const(0)), (3, Gen.Const(1)), (1, Gen.Const(2)), (1, Gen.Const(3)));

    /// <summary>0: PROT_NONE, 1: PROT_READ, 2: PROT_READ|PROT_WRITE; read-write most often.</summary>
    private static readonly Gen<int> Protection = Gen.Frequency((1, Gen.Const(0)), (2, Gen.Const(1)), (6, Gen.Const(2)));

    private static readonly Gen<Step> StepGen = Gen.Frequency(
        (3, Gen.Select(PageGen, Length, Shape, Protection, Arguments, (a, b, c, d, e) => new Step(Kind.Mmap, a, b, c, d, e))),
        (2, Gen.Select(PageGen, Length, Shape, Arguments, (a, b, c, e) => new Step(Kind.Munmap, a, b, c, 0, e))),
        (3, Gen.Select(PageGen, Length, Shape, Protection, Arguments, (a, b, c, d, e) => new Step(Kind.Mprotect, a, b, c, d, e))),
        (2, Gen.Select(PageGen, Gen.Frequency((1, Gen.Const(0)), (12, Length)), Length, Shape, Arguments, (a, b, c, d, e) => new Step(Kind.MremapInPlace, a, b, c, d, e))),
        (3, Gen.Select(PageGen, Gen.Frequency((1, Gen.Const(0)), (12, Length)), Gen.Frequency((1, Gen.Const(-1)), (2, Length)), PageGen, Shape, (a, b, c, d, e) => new Step(Kind.MremapMove, a, b, c, d, e))),
        (5, Gen.Select(PageGen, Length, Shape, Gen.Frequency((5, Gen.Int[0, 10]), (1, Gen.Const((int)MadviseAdvice.Collapse))), Arguments, (a, b, c, d, e) => new Step(Kind.Madvise, a, b, c, d, e))),
        (10, Gen.Select(PageGen, Gen.Int[0, 4095], Gen.Int[0, 255], (a, b, c) => new Step(Kind.Write, a, b, c, 0, 0))),
        (5, Gen.Select(PageGen, Length, Gen.Int[1, 9], Shape, Gen.Int[0, 255], (a, b, c, d, e) => new Step(Kind.Touch, a, b, c, d, e))),
        (4, Gen.Select(PageGen, Gen.Int[0, 4095], (a, b) => new Step(Kind.Read, a, b, 0, 0, 0))),
        (4, Gen.Int[0, 1].Select(a => new Step(Kind.Fork, a, 0, 0, 0, 0))),
        (3, Gen.Int[0, MaxProcesses - 1].Select(a => new Step(Kind.Switch, a, 0, 0, 0, 0))),
        (2, Gen.Int[0, MaxProcesses - 1].Select(a => new Step(Kind.Exit, a, 0, 0, 0, 0))),
        (2, Gen.Int[0, 4].Select(a => new Step(Kind.Shrink, a, 0, 0, 0, 0))),
        (2, Gen.Select(Gen.Int[2, 9], Gen.Int[0, 3], (a, b) => new Step(Kind.SizePolicy, a, b, 0, 0, 0))),
        (1, Gen.Int[0, 2].Select(a => new Step(Kind.GlobalPolicy, a, 0, 0, 0, 0))),
        (1, Gen.Select(Gen.Int[0, 5], Gen.Int[0, 511], (a, b) => new Step(Kind.Knob, a, b, 0, 0, 0))),
        (2, Gen.Select(PageGen, Length, Shape, Gen.Int[0, 8], Gen.Int[-1, 520], (a, b, c, d, e) => new Step(Kind.Split, a, b, c, d, e))));

    /// <summary>Where a sequence starts: the global THP setting, each size's setting (orders 2..9), and whether the window starts mapped read-write.</summary>
    private readonly record struct Setup(int Global, int[] Sizes, bool Mapped)
    {
        public override string ToString() => $"Setup({Global}, [{string.Join(",", Sizes)}], {Mapped})";
    }

    // Sizes lean towards always and inherit so that large folios are common.
    private static readonly Gen<int> SizeSetting = Gen.Frequency((3, Gen.Const(0)), (2, Gen.Const(1)), (1, Gen.Const(2)), (2, Gen.Const(3)));

    private static readonly Gen<Setup> SetupGen = Gen.Select(
        Gen.Frequency((2, Gen.Const(0)), (2, Gen.Const(1)), (1, Gen.Const(2))),
        SizeSetting.Array[8],
        Gen.Frequency((4, Gen.Const(true)), (1, Gen.Const(false))),
        (global, sizes, mapped) => new Setup(global, sizes, mapped));

    private static Gen<(Setup Setup, Step[] Steps)> SequenceGen(int maxSteps) =>
        Gen.Select(SetupGen, StepGen.Array[1, maxSteps], (setup, steps) => (setup, steps));

    private static readonly string[] EnabledWords = ["always", "madvise", "never"];

    private static readonly string[] DefragWords = ["always", "defer", "defer+madvise", "madvise", "never"];

    private static readonly int[] Limits = [0, 1, 64, 255, 256, 510, 511];

    /// <summary>What one page of one process should be.</summary>
    private struct PageShadow
    {
        /// <summary>The page's VMA flags (<see cref="Tracked"/> only); null when no VMA covers it.</summary>
        public VmaFlags? Flags;

        /// <summary>With memory behind the arena: the byte last stored at each offset since the page was last zeroed.</summary>
        public Dictionary<int, byte>? Bytes;

        /// <summary>Whether a non-zero byte was stored since the page was last zeroed (what a metadata-only arena's load answers).</summary>
        public bool NonZero;

        /// <summary>
        /// Whether the page cannot be all zeros, so no split may turn it into a zero-page mapping: with
        /// memory, a non-zero byte is there now; without, the content bit is set.
        /// </summary>
        public readonly bool HoldsNonZero(bool realMemory) =>
            realMemory ? Bytes is { } bytes && bytes.Values.Any(b => b != 0) : NonZero;

        /// <summary>A new mapping with <paramref name="flags"/>, no data.</summary>
        public static PageShadow Mapped(VmaFlags flags) => new() { Flags = flags };

        /// <summary>The same page in a forked child: its own copy of the data.</summary>
        public readonly PageShadow Copy() => new()
        {
            Flags = Flags,
            Bytes = Bytes is null ? null : new Dictionary<int, byte>(Bytes),
            NonZero = NonZero,
        };

        /// <summary>Zapped: reads as zeros.</summary>
        public void Zero()
        {
            Bytes = null;
            NonZero = false;
        }
    }

    /// <summary>A live process: its address space and its shadow.</summary>
    private sealed class Process(AddressSpace mm, PageShadow[] pages)
    {
        public AddressSpace Mm { get; } = mm;

        public PageShadow[] Pages { get; } = pages;
    }

    /// <summary>The machine, its processes and which one runs.</summary>
    private sealed class State(TestMachine testMachine, bool realMemory)
    {
        public TestMachine TestMachine { get; } = testMachine;

        public Machine Machine => TestMachine.Machine;

        public bool RealMemory { get; } = realMemory;

        public List<Process> Processes { get; } = [];

        public int Current { get; set; }

        public Process Cur => Processes[Current];
    }

    [Fact]
    public void Several_processes_on_real_memory_keep_every_invariant_and_their_own_data()
    {
        SequenceGen(80).Sample(
            sequence => Run(sequence.Setup, sequence.Steps, realMemory: true),
            iter: 30,
            threads: 1,
            print: Print);
    }

    [Fact]
    public void Many_short_sequences_of_several_processes_keep_every_invariant()
    {
        SequenceGen(25).Sample(
            sequence => Run(sequence.Setup, sequence.Steps, realMemory: false),
            iter: 300,
            threads: 1,
            print: Print);
    }

    /// <summary>x86 keeps a PROT_NONE entry's page but clears its present bit: the CPU faults, and access_error finds no VM_READ.</summary>
    [Fact]
    public void A_load_from_a_prot_none_page_is_a_segmentation_fault()
    {
        using var world = new World();
        world.Mm.Mmap(Base, Page, MemoryProtection.ReadWrite);
        world.Mm.Write(Base, 7);
        world.Mm.Mprotect(Base, Page, MemoryProtection.None);
        world.Machine.Validate();

        var fault = Assert.Throws<SegmentationFaultException>(() => world.Mm.Read(Base));
        Assert.Equal(FaultAccess.Read, fault.Access);
    }

    /// <summary>
    /// Linux's <c>try_to_map_unused_to_zeropage</c> makes the zero-page entry with the VMA's
    /// <c>vm_page_prot</c>, so in a PROT_NONE VMA it is PROT_NONE too; whichever split remaps the
    /// all-zero pages of a 64 KiB folio half in a PROT_NONE VMA, the machine stays valid.
    /// </summary>
    [Theory]
    [InlineData("split_huge_pages")]
    [InlineData("shrinker")]
    [InlineData("MADV_FREE")]
    public void A_split_in_a_prot_none_vma_keeps_its_zero_pages_prot_none(string split)
    {
        using var world = new World();
        world.Policy.WriteSizeEnabled("64kB", "always");
        world.Mm.Mmap(Base, 0x10000, MemoryProtection.ReadWrite);
        world.Mm.Write(Base, 7);                                             // one 64 KiB folio, page 0 non-zero
        world.Mm.Mprotect(Base + 0x8000, 0x8000, MemoryProtection.None);     // its second half PROT_NONE
        world.Machine.Validate();
        switch (split)
        {
            case "split_huge_pages":
                world.Mm.SplitFolios(Base, 0x10000, 0);
                break;
            case "shrinker":
                world.Mm.Madvise(Base + 0x1000, Page, MadviseAdvice.DontNeed);   // partially mapped: queued
                world.Machine.ShrinkDeferredSplit();
                break;
            default:
                world.Mm.Madvise(Base, Page, MadviseAdvice.Free);                // covers the folio in part: split
                break;
        }

        world.Machine.Validate();
        Assert.True(world.Mm.Translate(Base + 0x8000).IsProtNone);
    }

    /// <summary>
    /// The child's VMA at 0x40200000 is forked (its anon_vma chain links the parent's), the one
    /// before it fresh: they cannot merge. Wiped by the next fork, the grandchild's two have no
    /// anon_vma and equal flags; Linux's <c>dup_mmap</c> copies VMAs one by one and never merges,
    /// so two such neighbours are a valid state.
    /// </summary>
    [Fact]
    public void A_fork_of_wipeonfork_neighbours_leaves_a_valid_vma_set()
    {
        using var testMachine = new TestMachine();
        AddressSpace parent = testMachine.Machine.CreateAddressSpace();
        AddressSpace child = parent;
        AddressSpace grandchild = parent;
        try
        {
            parent.Mmap(Base, 4 * Pmd, MemoryProtection.ReadWrite);
            parent.Write(Base + Pmd);
            child = parent.Fork();
            child.Mmap(Base, Pmd, MemoryProtection.ReadWrite);
            child.Madvise(Base, 2 * Pmd, MadviseAdvice.WipeOnFork);
            testMachine.Machine.Validate();
            grandchild = child.Fork();
            testMachine.Machine.Validate();
        }
        finally
        {
            grandchild.Dispose();
            child.Dispose();
            parent.Dispose();
        }
    }

    private static string Print((Setup Setup, Step[] Steps) sequence) =>
        sequence.Setup + " " + string.Join(" ", sequence.Steps.Select(s => s.ToString()));

    private static ulong PageAddress(int page) => Base + ((ulong)page * Page);

    /// <summary>A sub-range of the window: 2 MiB aligned when <paramref name="shape"/> is 0, 64 KiB aligned when 1, else as drawn; at least one page.</summary>
    private static (int First, int Count) Range(int first, int count, int shape)
    {
        int block = shape switch { 0 => 512, 1 => 16, _ => 1 };
        first -= first % block;
        count = Math.Max(block, (count + block - 1) / block * block);
        return (first, Math.Min(count, WindowPages - first));
    }

    /// <summary>The start and length a call is given for [<paramref name="first"/>, +<paramref name="count"/>) pages, shaped by <paramref name="shape"/>.</summary>
    private static (ulong Start, ulong Length) ShapeArguments(int first, int count, ArgumentShape shape, int salt)
    {
        ulong start = PageAddress(first);
        ulong length = (ulong)count * Page;
        ulong jitter = 1 + (ulong)(salt & 0x7fff_ffff) % (Page - 1);
        return shape switch
        {
            ArgumentShape.Rounded => (start, length - jitter),
            ArgumentShape.Unaligned => (start + jitter, length),
            ArgumentShape.Empty => (start, 0),
            _ => (start, length),
        };
    }

    private static VmaFlags ProtectionFlags(int protection) => protection switch
    {
        0 => VmaFlags.None,
        1 => VmaFlags.Read,
        _ => VmaFlags.Read | VmaFlags.Write,
    };

    private static MemoryProtection ProtectionOf(int protection) => protection switch
    {
        0 => MemoryProtection.None,
        1 => MemoryProtection.Read,
        _ => MemoryProtection.ReadWrite,
    };

    private static void Run(Setup setup, Step[] steps, bool realMemory)
    {
        var state = new State(new TestMachine(128 * MiB, metadataOnly: !realMemory), realMemory);
        try
        {
            Machine machine = state.Machine;
            machine.Policy.WriteEnabled(EnabledWords[setup.Global]);
            for (int order = 2; order <= 9; order++)
                machine.Policy.SetSizeEnabled(order, (ThpSizeEnabled)setup.Sizes[order - 2]);
            var first = new Process(machine.CreateAddressSpace(), new PageShadow[WindowPages]);
            state.Processes.Add(first);
            if (setup.Mapped)
            {
                first.Mm.Mmap(Base, WindowPages * Page, MemoryProtection.ReadWrite);
                for (int p = 0; p < WindowPages; p++)
                    first.Pages[p] = PageShadow.Mapped(Access);
            }

            for (int i = 0; i < steps.Length; i++)
            {
                try
                {
                    Apply(state, steps[i]);
                    machine.Validate();
                    foreach (Process process in state.Processes)
                        Check(state, process);
                }
                catch (Exception e)
                {
                    string where = string.Join(",", state.Processes.Select((p, n) => (n == state.Current ? "*" : "") + p.Mm.Id));
                    throw new InvalidOperationException($"Step {i} {steps[i]} (mms {where}, * running) failed: {e.GetType().Name}: {e.Message}", e);
                }
            }

            foreach (Process process in state.Processes)
                process.Mm.Dispose();
            state.Processes.Clear();
            state.TestMachine.AssertOnlyZeroPagesLeft();
            state.TestMachine.TearDownAndAssertNoLeak();
        }
        finally
        {
            foreach (Process process in state.Processes)
                process.Mm.Dispose();
            state.TestMachine.Dispose();
        }
    }

    /// <summary>
    /// The process's VMAs agree with its shadow page by page, and every page reads back what the
    /// shadow says: each stored byte (or, metadata-only, whether a non-zero byte was stored) where
    /// the page is readable, an entry still present where it holds data. Only pages already mapped
    /// are loaded from, so the check faults nothing in.
    /// </summary>
    private static void Check(State state, Process process)
    {
        AddressSpace mm = process.Mm;
        var flags = new VmaFlags?[WindowPages];
        foreach (Vma vma in mm.Vmas.ToArray())
        {
            Assert.True(vma.Start >= Base && vma.End <= PageAddress(WindowPages), $"mm {mm.Id} has a VMA 0x{vma.Start:x}..0x{vma.End:x} outside the window");
            for (ulong a = vma.Start; a < vma.End; a += Page)
                flags[(int)((a - Base) / Page)] = vma.Flags & Tracked;
        }

        var present = new bool[WindowPages];
        var zero = new bool[WindowPages];
        foreach (LayoutRun run in mm.GetLayout())
        {
            for (long i = 0; i < run.Pages; i++)
            {
                int p = (int)((run.Address - Base) / Page) + (int)i;
                present[p] = true;
                zero[p] = run.IsZero;
            }
        }

        for (int p = 0; p < WindowPages; p++)
        {
            PageShadow page = process.Pages[p];
            ulong address = PageAddress(p);
            if (flags[p] != page.Flags)
                Assert.Fail($"mm {mm.Id}: 0x{address:x} has VMA flags {Describe(flags[p])}; the shadow says {Describe(page.Flags)}");
            if (page.Flags is not { } f)
                continue;
            if (page.HoldsNonZero(state.RealMemory))
            {
                Assert.True(present[p], $"mm {mm.Id}: 0x{address:x} held data but maps nothing");
                Assert.False(zero[p], $"mm {mm.Id}: 0x{address:x} held data but maps the zero page");
            }

            if ((f & VmaFlags.Read) == 0 || !present[p])
                continue;
            int probe = (p * 37) % 4096;
            if (!state.RealMemory)
            {
                byte bit = mm.Read(address + (ulong)probe);
                if (bit != (page.NonZero ? 1 : 0))
                    Assert.Fail($"mm {mm.Id}: 0x{address:x} reads {bit}; {(page.NonZero ? "a non-zero byte was" : "nothing non-zero was")} stored there");
                continue;
            }

            if (page.Bytes is { } bytes)
            {
                foreach ((int offset, byte value) in bytes)
                {
                    byte loaded = mm.Read(address + (ulong)offset);
                    if (loaded != value)
                        Assert.Fail($"mm {mm.Id}: 0x{address + (ulong)offset:x} reads {loaded}; {value} was stored there");
                }

                if (bytes.ContainsKey(probe))
                    continue;
            }

            byte other = mm.Read(address + (ulong)probe);
            if (other != 0)
                Assert.Fail($"mm {mm.Id}: 0x{address + (ulong)probe:x} reads {other}; nothing was stored there");
        }
    }

    private static string Describe(VmaFlags? flags) => flags is { } f ? f.ToString() : "(unmapped)";

    /// <summary>Runs <paramref name="call"/>; returns the exception when it is one a refused call may throw, else null. Any other exception propagates.</summary>
    private static Exception? Attempt(Action call)
    {
        try
        {
            call();
            return null;
        }
        catch (BadAddressException e)
        {
            return e;
        }
        catch (SyscallException e)
        {
            return e;
        }
        catch (SegmentationFaultException e)
        {
            return e;
        }
    }

    private static void ExpectSuccess(Exception? thrown, string what)
    {
        if (thrown is not null)
            Assert.Fail($"{what} was expected to succeed but threw {thrown.GetType().Name} ({ErrnoOf(thrown)}): {thrown.Message}");
    }

    private static void ExpectRefusal<T>(Exception? thrown, Errno? errno, string what)
        where T : Exception
    {
        if (thrown is not T)
            Assert.Fail($"{what} was expected to throw {typeof(T).Name}{(errno is { } e ? $" ({e})" : "")} but {(thrown is null ? "succeeded" : $"threw {thrown.GetType().Name}: {thrown.Message}")}");
        if (errno is { } expected && ErrnoOf(thrown) != expected)
            Assert.Fail($"{what} was expected to fail with {expected} but failed with {ErrnoOf(thrown)}: {thrown.Message}");
    }

    private static Errno? ErrnoOf(Exception e) => e switch
    {
        BadAddressException bad => bad.Errno,
        SyscallException syscall => syscall.Errno,
        _ => null,
    };

    private static void Apply(State state, Step step)
    {
        Machine machine = state.Machine;
        Process process = state.Cur;
        AddressSpace mm = process.Mm;
        PageShadow[] pages = process.Pages;
        switch (step.Kind)
        {
            case Kind.Mmap:
            {
                var (first, count) = Range(step.A, step.B, step.C);
                int protection = step.D;
                var shape = (ArgumentShape)step.E;
                var (start, length) = ShapeArguments(first, count, shape, step.A + step.B);
                Exception? thrown = Attempt(() => mm.Mmap(start, length, ProtectionOf(protection)));
                if (shape is ArgumentShape.Unaligned or ArgumentShape.Empty)
                {
                    ExpectRefusal<BadAddressException>(thrown, Errno.EINVAL, $"mmap(0x{start:x}, 0x{length:x})");
                    break;
                }

                ExpectSuccess(thrown, "mmap");
                for (int p = first; p < first + count; p++)
                    pages[p] = PageShadow.Mapped(ProtectionFlags(protection));
                break;
            }

            case Kind.Munmap:
            {
                var (first, count) = Range(step.A, step.B, step.C);
                var shape = (ArgumentShape)step.E;
                var (start, length) = ShapeArguments(first, count, shape, step.A + step.B);
                Exception? thrown = Attempt(() => mm.Munmap(start, length));
                if (shape is ArgumentShape.Unaligned or ArgumentShape.Empty)
                {
                    ExpectRefusal<BadAddressException>(thrown, Errno.EINVAL, $"munmap(0x{start:x}, 0x{length:x})");
                    break;
                }

                ExpectSuccess(thrown, "munmap");
                for (int p = first; p < first + count; p++)
                    pages[p] = default;
                break;
            }

            case Kind.Mprotect:
            {
                // From the VMA at the start, each VMA changes until a hole; a hole anywhere is ENOMEM.
                var (first, count) = Range(step.A, step.B, step.C);
                int protection = step.D;
                var shape = (ArgumentShape)step.E;
                var (start, length) = ShapeArguments(first, count, shape, step.A + step.B);
                Exception? thrown = Attempt(() => mm.Mprotect(start, length, ProtectionOf(protection)));
                if (shape == ArgumentShape.Unaligned)
                {
                    ExpectRefusal<BadAddressException>(thrown, Errno.EINVAL, $"mprotect(0x{start:x}, 0x{length:x})");
                    break;
                }

                if (shape == ArgumentShape.Empty)
                {
                    ExpectSuccess(thrown, "mprotect of nothing");
                    break;
                }

                int p = first;
                for (; p < first + count && pages[p].Flags is { } f; p++)
                    pages[p].Flags = (f & ~Access) | ProtectionFlags(protection);
                if (p < first + count)
                    ExpectRefusal<BadAddressException>(thrown, Errno.ENOMEM, "mprotect over a hole");
                else
                    ExpectSuccess(thrown, "mprotect");
                break;
            }

            case Kind.MremapInPlace:
                MremapInPlace(process, step);
                break;

            case Kind.MremapMove:
                MremapMove(process, step);
                break;

            case Kind.Madvise:
                Madvise(process, step);
                break;

            case Kind.Write:
                Store(state, process, step.A, step.B, (byte)step.C);
                break;

            case Kind.Touch:
            {
                // Stores to every C-th page of a range, where a store is allowed.
                var (first, count) = Range(step.A, step.B, step.D);
                for (int p = first; p < first + count; p += step.C)
                {
                    if (pages[p].Flags is { } f && (f & VmaFlags.Write) != 0)
                        Store(state, process, p, (p * 13) % 4096, (byte)(step.E + p));
                }

                break;
            }

            case Kind.Read:
            {
                ulong address = PageAddress(step.A) + (ulong)step.B;
                byte loaded = 0;
                Exception? thrown = Attempt(() => loaded = mm.Read(address));
                if (pages[step.A].Flags is not { } f || (f & VmaFlags.Read) == 0)
                {
                    ExpectRefusal<SegmentationFaultException>(thrown, null, $"a load from 0x{address:x} ({Describe(pages[step.A].Flags)})");
                    break;
                }

                ExpectSuccess(thrown, $"a load from 0x{address:x}");
                Assert.Equal(Expected(state, pages[step.A], step.B), loaded);
                break;
            }

            case Kind.Fork:
            {
                if (state.Processes.Count >= MaxProcesses)
                    break;
                AddressSpace child = mm.Fork();
                var childPages = new PageShadow[WindowPages];
                for (int p = 0; p < WindowPages; p++)
                {
                    if (pages[p].Flags is not { } f || (f & VmaFlags.DontCopy) != 0)
                        continue;
                    childPages[p] = (f & VmaFlags.WipeOnFork) != 0 ? PageShadow.Mapped(f) : pages[p].Copy();
                }

                state.Processes.Add(new Process(child, childPages));
                if (step.A == 1)
                    state.Current = state.Processes.Count - 1;
                break;
            }

            case Kind.Switch:
                state.Current = step.A % state.Processes.Count;
                break;

            case Kind.Exit:
            {
                if (state.Processes.Count == 1)
                    break;
                int victim = step.A % state.Processes.Count;
                state.Processes[victim].Mm.Dispose();
                state.Processes.RemoveAt(victim);
                if (victim < state.Current || state.Current == state.Processes.Count)
                    state.Current--;
                break;
            }

            case Kind.Shrink:
            {
                long queued = machine.DeferredSplitQueue.Length;
                long split = machine.ShrinkDeferredSplit(step.A == 0 ? long.MaxValue : step.A);
                Assert.InRange(split, 0, step.A == 0 ? queued : Math.Min(queued, step.A));
                break;
            }

            case Kind.SizePolicy:
                machine.Policy.SetSizeEnabled(step.A, (ThpSizeEnabled)step.B);
                break;

            case Kind.GlobalPolicy:
                machine.Policy.WriteEnabled(EnabledWords[step.A]);
                break;

            case Kind.Knob:
            {
                var knob = (ThpKnob)step.A;
                string value = knob switch
                {
                    ThpKnob.UseZeroPage or ThpKnob.ShrinkUnderused => (step.B % 2).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ThpKnob.Defrag => DefragWords[step.B % DefragWords.Length],
                    _ => (step.B % 2 == 0 ? Limits[step.B / 2 % Limits.Length] : step.B).ToString(System.Globalization.CultureInfo.InvariantCulture),
                };
                machine.Policy.WriteKnob(knob, value);
                break;
            }

            case Kind.Split:
            {
                var (first, count) = Range(step.A, step.B, step.C);
                int split = 0;
                ExpectSuccess(Attempt(() => split = mm.SplitFolios(PageAddress(first), (ulong)count * Page, step.D, step.E)), "split_huge_pages");
                Assert.True(split >= 0);
                break;
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(step), step.Kind, "no such step");
        }
    }

    /// <summary>What a load of <paramref name="offset"/> in <paramref name="page"/> returns.</summary>
    private static byte Expected(State state, PageShadow page, int offset)
    {
        if (!state.RealMemory)
            return page.NonZero ? (byte)1 : (byte)0;
        return page.Bytes is { } bytes && bytes.TryGetValue(offset, out byte value) ? value : (byte)0;
    }

    private static void Store(State state, Process process, int page, int offset, byte value)
    {
        ulong address = PageAddress(page) + (ulong)offset;
        Exception? thrown = Attempt(() => process.Mm.Write(address, value));
        ref PageShadow shadow = ref process.Pages[page];
        if (shadow.Flags is not { } f || (f & VmaFlags.Write) == 0)
        {
            ExpectRefusal<SegmentationFaultException>(thrown, null, $"a store to 0x{address:x} ({Describe(shadow.Flags)})");
            return;
        }

        ExpectSuccess(thrown, $"a store to 0x{address:x}");
        shadow.NonZero |= value != 0;
        if (state.RealMemory)
        {
            shadow.Bytes ??= [];
            shadow.Bytes[offset] = value;
        }

        Assert.Equal(Expected(state, shadow, offset), process.Mm.Read(address));
    }

    /// <summary>
    /// <c>mremap(old, oldLen, newLen, 0)</c>, predicted as Linux decides: no VMA at the old address is
    /// EFAULT; the same length does nothing; a shrink unmaps the tail; a grow needs the old range to
    /// end where its VMA ends (EFAULT when it runs past it), a zero old length is EINVAL, and the room
    /// after it must be free (ENOMEM); the new pages take the VMA's flags.
    /// </summary>
    private static void MremapInPlace(Process process, Step step)
    {
        AddressSpace mm = process.Mm;
        PageShadow[] pages = process.Pages;
        var (first, oldCount) = Range(step.A, Math.Max(step.B, 1), step.D);
        if (step.B == 0)
            oldCount = 0;
        int newCount = Math.Min(Range(step.A, step.C, step.D).Count, WindowPages - first);
        var shape = (ArgumentShape)step.E;
        var (old, oldLength) = ShapeArguments(first, oldCount, shape == ArgumentShape.Empty ? ArgumentShape.Whole : shape, step.A + step.B);
        var (_, newLength) = ShapeArguments(first, newCount, shape, step.A + step.C);
        if (shape == ArgumentShape.Empty)
            newCount = 0;
        if (oldCount == 0)
            oldLength = 0;

        // What Linux will say, from the VMAs as they are now.
        Errno? refusal = null;
        bool found = mm.Vmas.TryFind(old, out Vma vma);
        if (shape is ArgumentShape.Unaligned or ArgumentShape.Empty)
            refusal = Errno.EINVAL;
        else if (!found)
            refusal = Errno.EFAULT;
        else if (newCount > oldCount)
        {
            int vmaEnd = (int)((vma.End - Base) / Page);
            if (oldCount == 0)
                refusal = Errno.EINVAL;
            else if (first + oldCount > vmaEnd)
                refusal = Errno.EFAULT;
            else if (first + oldCount != vmaEnd || Enumerable.Range(vmaEnd, first + newCount - vmaEnd).Any(p => pages[p].Flags is not null))
                refusal = Errno.ENOMEM;
        }

        ulong result = 0;
        Exception? thrown = Attempt(() => result = mm.Mremap(old, oldLength, newLength, null));
        string what = $"mremap(0x{old:x}, 0x{oldLength:x}, 0x{newLength:x}) in place";
        if (refusal is { } errno)
        {
            ExpectRefusal<BadAddressException>(thrown, errno, what);
            return;
        }

        ExpectSuccess(thrown, what);
        Assert.Equal(old, result);
        if (newCount < oldCount)
        {
            for (int p = first + newCount; p < first + oldCount; p++)
                pages[p] = default;
        }
        else if (newCount > oldCount)
        {
            VmaFlags flags = pages[first].Flags!.Value;
            for (int p = first + oldCount; p < first + newCount; p++)
                pages[p] = PageShadow.Mapped(flags);
        }
    }

    /// <summary>
    /// <c>mremap(old, oldLen, newLen, MREMAP_MAYMOVE | MREMAP_FIXED, new)</c>, predicted: overlapping
    /// ranges are EINVAL; the same length moves every VMA of the range (EFAULT unless one holds the old
    /// address), leaving what lies opposite a hole; another length needs a VMA at the old address
    /// (EFAULT), a non-zero old length (EINVAL) and the part kept inside that VMA (EFAULT), then
    /// unmaps the destination and the whole old range, moves the part kept and maps the rest new
    /// with the VMA's flags.
    /// </summary>
    private static void MremapMove(Process process, Step step)
    {
        AddressSpace mm = process.Mm;
        PageShadow[] pages = process.Pages;
        int shape = step.E;
        var (first, oldCount) = Range(step.A, Math.Max(step.B, 1), shape);
        if (step.B == 0)
            oldCount = 0;
        var (to, newCount) = Range(step.D, Math.Max(step.C, 1), shape);
        if (step.C < 0)
            newCount = Math.Min(oldCount, WindowPages - to);   // the same length, where it fits
        ulong oldAddress = PageAddress(first);
        ulong newAddress = PageAddress(to);

        Errno? refusal = null;
        int kept = Math.Min(oldCount, newCount);
        bool found = mm.Vmas.TryFind(oldAddress, out Vma vma);
        if (newCount == 0 || (first + oldCount > to && to + newCount > first))
            refusal = Errno.EINVAL;
        else if (oldCount == newCount)
            refusal = pages[first].Flags is null ? Errno.EFAULT : null;
        else if (!found)
            refusal = Errno.EFAULT;
        else if (oldCount == 0)
            refusal = Errno.EINVAL;
        else if (first + kept > (int)((vma.End - Base) / Page))
            refusal = Errno.EFAULT;

        ulong result = 0;
        Exception? thrown = Attempt(() => result = mm.Mremap(oldAddress, (ulong)oldCount * Page, (ulong)newCount * Page, newAddress));
        string what = $"mremap(0x{oldAddress:x}, {oldCount} pages, {newCount} pages, to 0x{newAddress:x})";
        if (refusal is { } errno)
        {
            ExpectRefusal<BadAddressException>(thrown, errno, what);
            return;
        }

        ExpectSuccess(thrown, what);
        Assert.Equal(newAddress, result);
        if (oldCount == newCount)
        {
            for (int i = 0; i < oldCount; i++)
            {
                if (pages[first + i].Flags is null)
                    continue;
                pages[to + i] = pages[first + i];
                pages[first + i] = default;
            }

            return;
        }

        VmaFlags flags = pages[first].Flags!.Value;
        PageShadow[] moved = pages[first..(first + kept)];
        for (int p = to; p < to + newCount; p++)
            pages[p] = default;
        for (int p = first; p < first + oldCount; p++)
            pages[p] = default;
        for (int i = 0; i < kept; i++)
            pages[to + i] = moved[i];
        for (int p = to + kept; p < to + newCount; p++)
            pages[p] = PageShadow.Mapped(flags);
    }

    /// <summary>
    /// Every advice, predicted: with nothing mapped in the range, ENOMEM (populate reports the hole
    /// as false); populate walks from the start, refused (EINVAL) at a VMA that does not allow the
    /// access before any hole; MADV_COLLAPSE may fail for reasons of its own; otherwise the result
    /// says whether the whole range was mapped. DONTNEED zeroes, the flag advices change the mapped
    /// pages' flags, FREE (no reclaim here), COLLAPSE and populate keep the data.
    /// </summary>
    private static void Madvise(Process process, Step step)
    {
        AddressSpace mm = process.Mm;
        PageShadow[] pages = process.Pages;
        var advice = (MadviseAdvice)step.D;

        // MADV_COLLAPSE acts on whole 2 MiB blocks: most of its ranges are made of them.
        var (first, count) = Range(step.A, step.B, advice == MadviseAdvice.Collapse && step.C < 3 ? 0 : step.C);
        int mapped = 0;
        for (int p = first; p < first + count; p++)
            mapped += pages[p].Flags is null ? 0 : 1;
        var shape = (ArgumentShape)step.E;
        var (start, length) = ShapeArguments(first, count, shape, step.A + step.B);
        bool result = false;
        Exception? thrown = Attempt(() => result = mm.Madvise(start, length, advice));
        string what = $"madvise(0x{start:x}, 0x{length:x}, {advice})";
        if (shape == ArgumentShape.Unaligned)
        {
            ExpectRefusal<BadAddressException>(thrown, Errno.EINVAL, what);
            return;
        }

        if (shape == ArgumentShape.Empty)
        {
            ExpectSuccess(thrown, what);
            Assert.True(result, $"{what} of nothing returned false");
            return;
        }

        if (advice is MadviseAdvice.PopulateRead or MadviseAdvice.PopulateWrite)
        {
            VmaFlags needed = advice == MadviseAdvice.PopulateRead ? VmaFlags.Read : VmaFlags.Write;
            int p = first;
            while (p < first + count && pages[p].Flags is { } f && (f & needed) != 0)
                p++;
            if (p < first + count && pages[p].Flags is not null)
            {
                ExpectRefusal<SyscallException>(thrown, Errno.EINVAL, what + " of a VMA that does not allow it");
                return;
            }

            if (p == first && pages[p].Flags is null)
            {
                ExpectRefusal<BadAddressException>(thrown, Errno.ENOMEM, what + " starting in a hole");
                return;
            }

            ExpectSuccess(thrown, what);
            Assert.True(result == (p == first + count), $"{what} returned {result}; the range is {(p == first + count ? "" : "not ")}mapped to its end");
            return;
        }

        if (mapped == 0)
        {
            ExpectRefusal<BadAddressException>(thrown, Errno.ENOMEM, what + " of nothing mapped");
            return;
        }

        if (advice == MadviseAdvice.Collapse && thrown is SyscallException)
            return;   // EINVAL, EAGAIN or ENOMEM: MADV_COLLAPSE's own reasons; the data stays
        ExpectSuccess(thrown, what);
        Assert.True(result == (mapped == count), $"{what} returned {result} with {mapped} of {count} pages mapped");
        (VmaFlags set, VmaFlags clear) = advice switch
        {
            MadviseAdvice.HugePage => (VmaFlags.HugePage, VmaFlags.NoHugePage),
            MadviseAdvice.NoHugePage => (VmaFlags.NoHugePage, VmaFlags.HugePage),
            MadviseAdvice.DontFork => (VmaFlags.DontCopy, VmaFlags.None),
            MadviseAdvice.DoFork => (VmaFlags.None, VmaFlags.DontCopy),
            MadviseAdvice.WipeOnFork => (VmaFlags.WipeOnFork, VmaFlags.None),
            MadviseAdvice.KeepOnFork => (VmaFlags.None, VmaFlags.WipeOnFork),
            _ => (VmaFlags.None, VmaFlags.None),
        };
        for (int p = first; p < first + count; p++)
        {
            if (pages[p].Flags is not { } f)
                continue;
            pages[p].Flags = (f & ~clear) | set;
            if (advice == MadviseAdvice.DontNeed)
                pages[p].Zero();
        }
    }
}
