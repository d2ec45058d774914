using System;
using BenchmarkDotNet.Attributes;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.TestSupport;

namespace LargeFolios.Bench;

/// <summary>
/// The order-0 anonymous write fault by itself, with no store after it and no bytes to zero
/// (metadata-only arena, every THP size disabled): <see cref="AddressSpace.HandleFault"/> on every
/// 4 KiB page of a fresh, mapped GiB in address order, so the figure is the fault path's own cost
/// per fault (faults/s = 1e9 / ns per op): VMA lookup, page-table walk and allocation of the 512
/// PTE tables, folio allocation, rmap and counters, set_ptes. The spurious variant faults on pages
/// already mapped writable, which handle_mm_fault finds nothing to do for: the fixed cost of fault
/// entry and the walk. The address space is created and mapped before, and torn down after, each
/// measured pass (one invocation per iteration).
/// </summary>
[InvocationCount(1)]
public class FaultThroughputBenchmarks
{
    private const ulong Start = 0x4000_0000;
    private const ulong Length = 1UL << 30;
    private const int Pages = (int)(Length >> PageGeometry.PageShift);
    private const long ArenaBytes = 1280L << 20;

    private TestMachine _testMachine = null!;
    private AddressSpace? _space;

    [GlobalSetup(Target = nameof(Fault))]
    public void SetupFault()
    {
        CreateMachine();

        // Warm pass (JIT, per-CPU caches) and a check that every fault maps a new order-0 folio.
        MapFresh();
        int kinds = Fault();
        if (kinds != Pages * (int)FaultKind.Folio || _space!.AnonPages != Pages)
            throw new InvalidOperationException($"The faults did not each map one order-0 folio ({_space!.AnonPages} pages mapped).");
        UnmapAll();
    }

    [GlobalSetup(Target = nameof(SpuriousFault))]
    public void SetupSpurious()
    {
        CreateMachine();
        MapFresh();
        PopulateForSpurious();
        if (SpuriousFault() != Pages * (int)FaultKind.AlreadyMapped)
            throw new InvalidOperationException("A fault on a mapped page was not spurious.");
        UnmapAll();
    }

    [GlobalSetup(Target = nameof(PopulateFaults))]
    public void SetupPopulateFaults()
    {
        CreateMachine();
        MapFresh();
        PopulateFaults();
        if (_space!.AnonPages != Pages || _testMachine.Event(VmEvent.AnonFolioFault) != Pages)
            throw new InvalidOperationException($"MADV_POPULATE_WRITE did not fault each page once ({_space.AnonPages} pages mapped).");
        UnmapAll();
    }

    [IterationSetup(Targets = [nameof(Fault), nameof(PopulateFaults)])]
    public void MapFresh()
    {
        _space = _testMachine.Machine.CreateAddressSpace();
        _space.Mmap(Start, Length);
    }

    [IterationSetup(Target = nameof(SpuriousFault))]
    public void MapPopulated()
    {
        MapFresh();
        PopulateForSpurious();
    }

    [IterationCleanup]
    public void UnmapAll()
    {
        _space?.Dispose();
        _space = null;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _space?.Dispose();
        _testMachine.Dispose();
    }

    /// <summary>A write fault on every page of a fresh GiB: each maps a new zeroed order-0 folio.</summary>
    /// <returns>The sum of the fault kinds, so the results are used.</returns>
    [Benchmark(Baseline = true, OperationsPerInvoke = Pages)]
    public int Fault()
    {
        AddressSpace space = _space!;
        int kinds = 0;
        for (ulong address = Start; address < Start + Length; address += PageGeometry.PageSize)
            kinds += (int)space.HandleFault(address, FaultAccess.Write).Kind;
        return kinds;
    }

    /// <summary>A write fault on every page of a GiB already mapped writable: nothing to do but find that out.</summary>
    /// <returns>The sum of the fault kinds, so the results are used.</returns>
    [Benchmark(OperationsPerInvoke = Pages)]
    public int SpuriousFault()
    {
        AddressSpace space = _space!;
        int kinds = 0;
        for (ulong address = Start; address < Start + Length; address += PageGeometry.PageSize)
            kinds += (int)space.HandleFault(address, FaultAccess.Write).Kind;
        return kinds;
    }

    /// <summary>
    /// The same 262,144 order-0 write faults driven by <c>madvise(MADV_POPULATE_WRITE)</c> over the
    /// GiB (Linux's <c>faultin_page_range</c>): each page still takes the whole do_anonymous_page
    /// path, but the mmap lock, the VMA lookup and the walk to the PTE table are paid once per call
    /// or per 2 MiB instead of once per fault, as GUP pays them in Linux.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Pages)]
    public bool PopulateFaults() => _space!.Madvise(Start, Length, MadviseAdvice.PopulateWrite);

    private void CreateMachine()
    {
        _testMachine = new TestMachine(ArenaBytes);
        FaultPopulateBenchmarks.SetOnlyOrder(_testMachine.Policy, 0);
    }

    private void PopulateForSpurious()
    {
        for (ulong address = Start; address < Start + Length; address += PageGeometry.PageSize)
            _space!.HandleFault(address, FaultAccess.Write);
    }
}
