using System;
using System.Diagnostics;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Workloads.Patterns;

namespace LargeFolios.Folios.Workloads;

/// <summary>
/// Runs a workload on a machine of its own: builds the arena and machine, writes the policy into
/// its sysfs, fragments it if asked, maps the region in one address space and lets the threads
/// loose on their slices, iteration by iteration; then reads the counters into a
/// <see cref="WorkloadResult"/> and tears everything down. A thread that gets SIGSEGV or runs out
/// of memory stops, and the run is reported as such; any other exception is a bug and is thrown.
/// </summary>
internal static class WorkloadRunner
{
    /// <summary>Runs <paramref name="options"/>.</summary>
    /// <param name="options">The workload; checked first (<see cref="WorkloadOptions.Check"/>).</param>
    /// <param name="progress">Advanced by the pages covered; its total planned here. Optional.</param>
    /// <param name="inspect">Called with the result, the machine and the address space before teardown (tests, tracing). Optional.</param>
    /// <exception cref="ArgumentException">The options are inconsistent, the run needs more host memory than the bound
    /// (<see cref="HostMemory.Process"/>) has left, or it reached the bound while it ran; the message names the value.</exception>
    /// <exception cref="WorkloadInvariantException">With <see cref="WorkloadOptions.Validate"/>: the machine broke an invariant.</exception>
    public static WorkloadResult Run(WorkloadOptions options, WorkProgress? progress = null, Action<WorkloadResult, Machine, AddressSpace>? inspect = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Run(options, AccessPattern.For(options), progress, inspect);
    }

    /// <summary>How often a traced run writes the buddy allocator's free areas.</summary>
    private static readonly TimeSpan SnapshotInterval = TimeSpan.FromMilliseconds(5);

    /// <summary>As <see cref="Run(WorkloadOptions, WorkProgress?, Action{WorkloadResult, Machine, AddressSpace}?)"/>, with a pattern of the caller's instead of <see cref="WorkloadOptions.Kind"/>'s.</summary>
    public static WorkloadResult Run(WorkloadOptions options, AccessPattern pattern, WorkProgress? progress = null, Action<WorkloadResult, Machine, AddressSpace>? inspect = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(pattern);
        if (options.Check() is { } problem)
            throw new ArgumentException(problem);
        CheckFitsHost(options);

        using Arena arena = CreateArena(options);
        long refusals = arena.HostMemory.Refusals;
        using var machine = WithinBound(() => new Machine(arena));
        options.Policy.ApplyTo(machine.Policy);
        machine.Overcommit = OvercommitPolicy.Always;   // vm.overcommit_memory=1: a region larger than the arena runs until its faults find no memory
        using ArenaFragmenter fragmenter = ArenaFragmenter.Fragment(arena, options.FragmentPercent);
        using AddressSpace space = WithinBound(machine.CreateAddressSpace);

        WorkloadSlice[] slices = CreateSlices(options, space, progress);
        progress?.Plan(slices.Sum(s => s.Pages) * options.Iterations);

        // Traced, the buddy allocator's free areas every few milliseconds: folios report plots them over time.
        using Timer? snapshots = AllocatorEventSource.Log.IsEnabled()
            ? new Timer(static state => ((Arena)state!).TraceFreeAreas(), arena, TimeSpan.Zero, SnapshotInterval)
            : null;

        var clock = Stopwatch.StartNew();
        int iterations = 0;
        WorkloadFailure? failure = null;
        while (iterations < options.Iterations && failure == null)
        {
            int iteration = iterations++;
            space.Mmap(WorkloadOptions.RegionBase, (ulong)options.SizeBytes);
            WorkloadSlice.Advise(space, WorkloadOptions.RegionBase, (ulong)options.SizeBytes, options.Advice);
            RunThreads(pattern, slices, iteration);
            pattern.EndIteration(machine);
            failure = slices.Select(s => s.Failure).FirstOrDefault(f => f != null);
        }

        TimeSpan elapsed = clock.Elapsed;

        // Linux's /proc/buddyinfo leaves out the per-CPU lists; drained, the free lists show
        // every free page and what the live folios did to them.
        arena.DrainPerCpuCaches();
        snapshots?.Dispose();
        arena.TraceFreeAreas();
        var result = new WorkloadResult(options, machine, space)
        {
            Failure = failure,
            IterationsRun = iterations,
            Elapsed = elapsed,
            Stores = slices.Sum(s => s.Stores),
            Loads = slices.Sum(s => s.Loads),
            Madvises = slices.Sum(s => s.Madvises),
            Remaps = slices.Sum(s => s.Remaps),
            PagesWritten = slices.Sum(s => s.PagesWritten),
            PinnedPages = fragmenter.PinnedPages,
            Buddy = arena.GetBuddyInfo(),
        };

        inspect?.Invoke(result, machine, space);
        if (options.Validate)
        {
            try
            {
                machine.Validate();
            }
            catch (Exception broken) when (WorkloadInvariantException.IsBrokenInvariant(broken))
            {
                throw new WorkloadInvariantException(options.Policy.Name, broken);
            }
        }

        // Out of memory because the bound refused a page table is not the machine's result but
        // the host's limit, which the up-front check missed (the bound is shared, or was lowered).
        if (failure?.Outcome == WorkloadOutcome.OutOfMemory && arena.HostMemory.Refusals != refusals && arena.HostMemory.LastRefusal is { } refusal)
        {
            throw new ArgumentException(
                $"the run reached the host-memory bound at 0x{failure.Address:x} (thread {failure.Thread}, iteration {failure.Iteration}): {Clause(refusal)}; {BoundHint}",
                refusal);
        }

        return result;
    }

    /// <summary>An exception's message as a clause of the tool's one-line messages: lower case, no full stop.</summary>
    private static string Clause(Exception e) => char.ToLowerInvariant(e.Message[0]) + e.Message[1..].TrimEnd('.');

    /// <summary>How the tool's bound is set, for the messages that meet it.</summary>
    private const string BoundHint = "expected a smaller size or arena, or FOLIOS_HOST_MEMORY set higher";

    /// <summary>Refuses a run whose footprint (<see cref="WorkloadFootprint"/>) is more than the host-memory bound has left, before it takes anything.</summary>
    private static void CheckFitsHost(WorkloadOptions options)
    {
        WorkloadFootprint footprint = WorkloadFootprint.For(options);
        long available = HostMemory.Process.AvailableBytes;
        if (footprint.TotalBytes > available)
        {
            throw new ArgumentException(
                $"size {ByteSize.Format(options.SizeBytes)} on a {ByteSize.FormatRounded(options.EffectiveArenaBytes)} arena needs up to {footprint.Describe(options.MetadataOnly)}; " +
                $"the host-memory bound has {ByteSize.FormatRounded(available)} left (of {ByteSize.FormatRounded(HostMemory.Process.LimitBytes)}); {BoundHint}");
        }
    }

    /// <summary>
    /// Runs a small copy of <paramref name="options"/> (4 MiB, one thread, no fragmentation) under
    /// every size and under order 0 alone, untimed: the folios tool compiles everything up front
    /// (no tiered JIT), and the first timed run would otherwise pay tens of milliseconds for it.
    /// </summary>
    public static void WarmUp(WorkloadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        WorkloadOptions small = options with
        {
            SizeBytes = Math.Min(options.SizeBytes, 4L << 20),
            Threads = 1,
            ArenaBytes = 0,
            FragmentPercent = 0,
            Iterations = 1,
            Validate = false,
        };
        Run(small with { Policy = Policies.PolicySettings.All });
        Run(small with { Policy = Policies.PolicySettings.Never });
    }

    /// <summary>What the up-front check let through but the bound (shared, or lowered since) refused is still the options' fault.</summary>
    private static T WithinBound<T>(Func<T> create)
    {
        try
        {
            return create();
        }
        catch (HostMemoryException refused)
        {
            throw new ArgumentException($"{Clause(refused)}; {BoundHint}", refused);
        }
    }

    /// <summary>The machine's memory; a host that cannot hold it is the options' fault, not a result.</summary>
    private static Arena CreateArena(WorkloadOptions options)
    {
        try
        {
            // A bound of the run's own, limited only by the process's, so that its refusals are
            // told apart from those of runs beside it.
            var hostMemory = new HostMemory(long.MaxValue);
            return new Arena(options.EffectiveArenaBytes, options: new ArenaOptions { MetadataOnly = options.MetadataOnly, HostMemory = hostMemory });
        }
        catch (OutOfMemoryException noRoom)
        {
            // The bound is checked above, but the host itself (the C heap, mmap) may still say no.
            throw new ArgumentException($"arena {ByteSize.FormatRounded(options.EffectiveArenaBytes)} does not fit this host: {Clause(noRoom)}; {BoundHint}", noRoom);
        }
    }

    /// <summary>
    /// Splits the region between the threads: equal slices, in whole 2 MiB where every thread can
    /// have one (so no folio straddles two threads and the faults do not depend on timing), the
    /// last slice taking the remainder.
    /// </summary>
    private static WorkloadSlice[] CreateSlices(WorkloadOptions options, AddressSpace space, WorkProgress? progress)
    {
        long pages = options.SizeBytes >> PageGeometry.PageShift;
        long perThread = pages / options.Threads;
        const long pmdPages = 1 << PageGeometry.PmdOrder;
        if (perThread >= pmdPages)
            perThread -= perThread % pmdPages;

        var slices = new WorkloadSlice[options.Threads];
        for (int t = 0; t < options.Threads; t++)
        {
            long first = t * perThread;
            long count = t == options.Threads - 1 ? pages - first : perThread;
            ulong start = WorkloadOptions.RegionBase + ((ulong)first << PageGeometry.PageShift);
            slices[t] = new WorkloadSlice(space, t, start, (ulong)count << PageGeometry.PageShift, options.Seed + t, options.Advice, progress);
        }

        return slices;
    }

    /// <summary>One iteration: every slice on its own thread at once (the caller's thread when there is one slice).</summary>
    private static void RunThreads(AccessPattern pattern, WorkloadSlice[] slices, int iteration)
    {
        foreach (WorkloadSlice slice in slices)
            slice.BeginIteration();

        if (slices.Length == 1)
        {
            RunSlice(pattern, slices[0], iteration, start: null);
            RethrowBug(slices);
            return;
        }

        // A barrier, so the threads fault against each other rather than one after another as
        // they are started.
        using var start = new Barrier(slices.Length);
        var threads = slices.Select(slice => new Thread(() => RunSlice(pattern, slice, iteration, start))
        {
            IsBackground = true,
            Name = $"workload {slice.Index}",
        }).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        RethrowBug(slices);
    }

    private static void RunSlice(AccessPattern pattern, WorkloadSlice slice, int iteration, Barrier? start)
    {
        start?.SignalAndWait();
        try
        {
            pattern.Run(slice);
        }
        catch (SegmentationFaultException fault)
        {
            slice.Failure = new WorkloadFailure(WorkloadOutcome.SegmentationFault, slice.Index, iteration, fault.Address, fault.Message);
        }
        catch (OutOfMemoryException oom)
        {
            slice.Failure = new WorkloadFailure(WorkloadOutcome.OutOfMemory, slice.Index, iteration, slice.CurrentAddress, oom.Message);
        }
#pragma warning disable CA1031 // Anything else is a bug: carried to the runner's thread and thrown there, not lost with this one.
        catch (Exception bug)
#pragma warning restore CA1031
        {
            slice.Bug = ExceptionDispatchInfo.Capture(bug);
        }
        finally
        {
            slice.Flush();
        }
    }

    private static void RethrowBug(WorkloadSlice[] slices) => slices.FirstOrDefault(s => s.Bug != null)?.Bug!.Throw();
}
