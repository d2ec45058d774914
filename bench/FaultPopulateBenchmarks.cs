using System;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.TestSupport;

namespace LargeFolios.Bench;

/// <summary>How the machine's memory is modelled in a fault benchmark.</summary>
public enum FaultMemory
{
    /// <summary>An arena backed by real memory: every new folio is really zeroed (<c>folio_zero_user</c> is a memset).</summary>
    Zeroing,

    /// <summary>A metadata-only arena: descriptors and one content bit per page, no bytes to zero.</summary>
    MetadataOnly,
}

/// <summary>
/// Populating 1 GiB of private anonymous memory (0x40000000, 2 MiB aligned) by one store to every
/// 4 KiB page in address order, as a program first touching a fresh heap does: each store that
/// finds no writable mapping takes a write fault, which maps a folio of the configured order (0,
/// or the one mTHP size enabled: 16 KiB, 64 KiB, 512 KiB, or the PMD size) and the stores after it
/// into the same folio just store. Reported per 4 KiB page, so order k amortises one fault over
/// 2^k pages. Zeroing (real memory, folios memset) against MetadataOnly (the same work without the
/// bytes) separates the fault path's own cost from the memory bandwidth Linux also pays; the
/// baseline is that bandwidth alone: a memset of the same amount of resident memory, 4 KiB at a
/// time. The address space is created and mapped before, and torn down after, each measured
/// populate (one invocation per iteration).
/// </summary>
/// <remarks>
/// The baseline does not depend on the parameters; it is repeated in every group so each row has
/// its ratio, and it always clears real memory (MetadataOnly rows too: it is the bandwidth a real
/// kernel would spend).
/// </remarks>
[InvocationCount(1)]
public unsafe class FaultPopulateBenchmarks
{
    private const ulong Start = 0x4000_0000;
    private const ulong Length = 1UL << 30;
    private const int Pages = (int)(Length >> PageGeometry.PageShift);

    /// <summary>1.25 GiB: the populated GiB, its page tables and room to spare.</summary>
    private const long ArenaBytes = 1280L << 20;

    private Arena _arena = null!;
    private TestMachine? _testMachine;
    private AddressSpace? _space;

    /// <summary>The folio order every fault maps: 0 (no THP), 2 (16 KiB), 4 (64 KiB), 7 (512 KiB), 9 (2 MiB, a PMD THP).</summary>
    [Params(0, 2, 4, 7, 9)]
    public int Order { get; set; }

    /// <summary>Real memory (folios zeroed) or metadata only.</summary>
    [Params(FaultMemory.Zeroing, FaultMemory.MetadataOnly)]
    public FaultMemory Mode { get; set; }

    [GlobalSetup(Target = nameof(Populate))]
    public void SetupPopulate()
    {
        _arena = new Arena(ArenaBytes, options: new ArenaOptions { MetadataOnly = Mode == FaultMemory.MetadataOnly });
        MakeResident(_arena);
        _testMachine = new TestMachine(_arena);
        SetOnlyOrder(_testMachine.Policy, Order);

        // One warm populate: JIT, per-CPU caches, and a check that the faults map what we claim.
        MapFresh();
        Populate();
        long expected = Order == 0 ? Pages : Pages >> Order;
        long mapped = _testMachine.Stat(Order, MthpStatItem.NrAnon);
        if (_space!.AnonPages != Pages || (Order >= ThpPolicy.MinAnonOrder && mapped != expected))
            throw new InvalidOperationException($"Populate at order {Order} mapped {_space.AnonPages} pages, {mapped} order-{Order} folios; expected {Pages} pages in {expected}.");
        UnmapAll();
    }

    [GlobalSetup(Target = nameof(MemsetBaseline))]
    public void SetupMemset()
    {
        _arena = new Arena(ArenaBytes);
        MakeResident(_arena);
    }

    [GlobalSetup(Target = nameof(PopulateWrite))]
    public void SetupPopulateWrite() => SetupPopulate();

    [IterationSetup(Targets = [nameof(Populate), nameof(PopulateWrite)])]
    public void MapFresh()
    {
        _space = _testMachine!.Machine.CreateAddressSpace();
        _space.Mmap(Start, Length);
    }

    [IterationCleanup(Targets = [nameof(Populate), nameof(PopulateWrite)])]
    public void UnmapAll()
    {
        _space?.Dispose();
        _space = null;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _space?.Dispose();
        _testMachine?.Dispose();
        // The memset baseline's arena has no machine to dispose it; disposing an arena twice is harmless.
        _arena.Dispose();
    }

    /// <summary>memset of 1 GiB of resident memory, 4 KiB at a time: the zeroing a fault of any order cannot avoid.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Pages)]
    public void MemsetBaseline()
    {
        byte* memory = _arena.BaseAddress;
        for (nuint offset = 0; offset < (nuint)Length; offset += PageGeometry.PageSize)
            NativeMemory.Clear(memory + offset, PageGeometry.PageSize);
    }

    /// <summary>One store to every 4 KiB page of the fresh GiB, faulting wherever nothing writable is mapped yet.</summary>
    [Benchmark(OperationsPerInvoke = Pages)]
    public void Populate()
    {
        AddressSpace space = _space!;
        for (ulong address = Start; address < Start + Length; address += PageGeometry.PageSize)
            space.Write(address);
    }

    /// <summary>
    /// The same population through <c>madvise(MADV_POPULATE_WRITE)</c>, Linux's way to write-fault a
    /// range in: the same faults in the same order (the folios, zero pages and counters are those
    /// of the stores above), but one mmap-lock hold for the whole GiB and one PTE read for each page
    /// already mapped, where a store pays a lock and a page-table walk per page.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Pages)]
    public void PopulateWrite() => _space!.Madvise(Start, Length, MadviseAdvice.PopulateWrite);

    /// <summary>Enables exactly <paramref name="order"/> (always) and no other anonymous THP size; order 0 disables them all.</summary>
    internal static void SetOnlyOrder(ThpPolicy policy, int order)
    {
        for (int k = ThpPolicy.MinAnonOrder; k <= PageGeometry.PmdOrder; k++)
            policy.SetSizeEnabled(k, k == order ? ThpSizeEnabled.Always : ThpSizeEnabled.Never);
    }

    /// <summary>Touches all of a real-memory arena so the host has committed it before anything is timed.</summary>
    private static void MakeResident(Arena arena)
    {
        if (arena.HasMemory)
            NativeMemory.Clear(arena.BaseAddress, (nuint)arena.SizeBytes);
    }
}
