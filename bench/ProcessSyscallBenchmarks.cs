using System;
using System.Threading;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.TestSupport;
using Perfolizer.Horology;

namespace LargeFolios.Bench;

/// <summary>
/// The process syscalls over 1 GiB of populated private anonymous memory (0x40000000, 1 GiB
/// aligned), metadata only, at order 0, in 64 KiB mTHP and in 2 MiB THP: what the kernel's
/// <c>fork</c>, <c>mprotect</c> and <c>mremap</c> cost there is measured by
/// <c>bench/kernel/syscall-costs.c</c> on the same machine (best of five), and the README sets the
/// two side by side. The work is the kernel's: fork copies every PTE (in folio batches) or PMD and
/// takes a reference on every folio, write-protecting both sides; mprotect rewrites every entry;
/// a 1 GiB-aligned mremap moves one PUD entry's PMD table, whatever is under it, and a 2 MiB-aligned
/// one 512 PMD entries.
/// </summary>
public abstract class ProcessSyscallBenchmarkBase
{
    protected const ulong Start = 0x4000_0000;
    protected const ulong Length = 1UL << 30;

    /// <summary>Where mremap moves the GiB: 4 GiB, 1 GiB aligned like <see cref="Start"/>.</summary>
    protected const ulong Elsewhere = 0x1_0000_0000;

    /// <summary>Where the 2 MiB-aligned move goes: 2 MiB past <see cref="Elsewhere"/>, so each PMD entry moves alone.</summary>
    protected const ulong ElsewherePmd = Elsewhere + (2UL << 20);

    /// <summary>The populated GiB, the child's page tables and room to spare.</summary>
    private const long ArenaBytes = 1280L << 20;

    private TestMachine? _testMachine;

    /// <summary>The folio order the GiB is populated with: 0, 4 (64 KiB) or 9 (2 MiB, PMD-mapped).</summary>
    [Params(0, 4, 9)]
    public int Order { get; set; }

    /// <summary>The process whose GiB the syscalls act on.</summary>
    protected AddressSpace Parent { get; private set; } = null!;

    /// <summary>A metadata-only machine and one process with the GiB populated at <see cref="Order"/>, checked.</summary>
    protected void SetupPopulated()
    {
        _testMachine = new TestMachine(new Arena(ArenaBytes, options: new ArenaOptions { MetadataOnly = true }));
        FaultPopulateBenchmarks.SetOnlyOrder(_testMachine.Policy, Order);
        Parent = _testMachine.Machine.CreateAddressSpace();
        Parent.Mmap(Start, Length);
        Parent.Madvise(Start, Length, MadviseAdvice.PopulateWrite);
        long pages = (long)(Length >> PageGeometry.PageShift);
        long folios = _testMachine.Stat(Order, MthpStatItem.NrAnon);
        if (Parent.AnonPages != pages || (Order >= ThpPolicy.MinAnonOrder && folios != pages >> Order))
            throw new InvalidOperationException($"Populate at order {Order} mapped {Parent.AnonPages} pages, {folios} order-{Order} folios; expected {pages} pages.");
    }

    /// <summary>
    /// Runs <paramref name="operation"/> a few times with pauses: tiered JIT promotes a method only
    /// once no new method has been compiled for 100 ms, and the engine's own compiling between
    /// iterations of a one-invocation benchmark can keep the whole run at tier 0 (five times slower).
    /// </summary>
    protected static void WarmUp(Action operation)
    {
        for (int i = 0; i < 6; i++)
        {
            operation();
            Thread.Sleep(150);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Parent?.Dispose();
        _testMachine?.TearDownAndAssertNoLeak();
    }

    /// <summary>Milliseconds, the unit the kernel's figures are in.</summary>
    protected sealed class MillisecondsConfig : ManualConfig
    {
        public MillisecondsConfig() => SummaryStyle = SummaryStyle.Default.WithTimeUnit(TimeUnit.Millisecond);
    }
}

/// <summary>
/// <c>fork</c> of the process (Linux <c>dup_mmap</c>): the child is made and is all that is timed; it
/// exits after each invocation, untimed. After the first fork the parent's pages are no longer
/// AnonExclusive and stay write-protected, as a parent's are after its child exits (the kernel's
/// repeated forks do the same).
/// </summary>
[InvocationCount(1)]
[Config(typeof(MillisecondsConfig))]
public class ForkBenchmarks : ProcessSyscallBenchmarkBase
{
    private AddressSpace? _child;

    [GlobalSetup]
    public void Setup()
    {
        SetupPopulated();
        WarmUp(() => Parent.Fork().Dispose());
    }

    /// <summary>fork: the child's VMAs, page tables and a reference on every folio.</summary>
    [Benchmark]
    public void Fork() => _child = Parent.Fork();

    [IterationCleanup]
    public void ChildExits()
    {
        _child?.Dispose();
        _child = null;
    }
}

/// <summary>
/// <c>mprotect</c> of the whole GiB, one change an invocation, each direction on its own: read-write
/// to read-only (the kernel's figure: every entry loses its write bit, large folios in batches)
/// and back (every entry of an AnonExclusive page is made writable at once, which reads each
/// page's descriptor: <c>can_change_pte_writable</c>). The other direction is restored untimed.
/// </summary>
[InvocationCount(1)]
[Config(typeof(MillisecondsConfig))]
public class MprotectBenchmarks : ProcessSyscallBenchmarkBase
{
    [GlobalSetup]
    public void Setup()
    {
        SetupPopulated();
        WarmUp(() =>
        {
            ToReadOnly();
            ToReadWrite();
        });
    }

    [IterationSetup(Target = nameof(ToReadOnly))]
    public void MakeWritable() => ToReadWrite();

    [IterationSetup(Target = nameof(ToReadWrite))]
    public void MakeReadOnly() => ToReadOnly();

    /// <summary>mprotect(PROT_READ) of the read-write GiB.</summary>
    [Benchmark]
    public void ToReadOnly() => Parent.Mprotect(Start, Length, MemoryProtection.Read);

    /// <summary>mprotect(PROT_READ | PROT_WRITE) of the read-only GiB.</summary>
    [Benchmark]
    public void ToReadWrite() => Parent.Mprotect(Start, Length, MemoryProtection.ReadWrite);
}

/// <summary>
/// <c>mremap</c> moving the GiB to 4 GiB (or 4 GiB + 2 MiB) and back (<c>MREMAP_MAYMOVE |
/// MREMAP_FIXED</c>; two moves an invocation, each reported alone).
/// </summary>
[Config(typeof(MillisecondsConfig))]
public class MremapBenchmarks : ProcessSyscallBenchmarkBase
{
    [GlobalSetup]
    public void Setup()
    {
        SetupPopulated();
        WarmUp(() =>
        {
            Mremap();
            MremapPmdAligned();
        });
    }

    /// <summary>mremap of the GiB to 4 GiB, then back: one PUD entry's PMD table moves each way.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public void Mremap()
    {
        Parent.Mremap(Start, Length, Length, Elsewhere);
        Parent.Mremap(Elsewhere, Length, Length, Start);
    }

    /// <summary>mremap of the GiB to 4 GiB + 2 MiB, then back: 512 PMD entries (PTE tables or PMD leaves) move each way.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public void MremapPmdAligned()
    {
        Parent.Mremap(Start, Length, Length, ElsewherePmd);
        Parent.Mremap(ElsewherePmd, Length, Length, Start);
    }
}
