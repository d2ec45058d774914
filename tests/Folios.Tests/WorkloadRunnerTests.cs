using System;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Policies;
using LargeFolios.Folios.Workloads;
using LargeFolios.Folios.Workloads.Patterns;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>The runner as an API: its result is the machine's own counters, and failures are results.</summary>
public sealed class WorkloadRunnerTests
{
    // Kinds by name: the enum is internal to folios, and test methods are public.
    public static TheoryData<string, string, int> Workloads()
    {
        var data = new TheoryData<string, string, int>();
        foreach (string kind in Enum.GetNames<WorkloadKind>())
        {
            foreach (string policy in new[] { "never", "16K,64K", "all" })
            {
                data.Add(kind, policy, 1);
                data.Add(kind, policy, 2);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Workloads))]
    public void The_result_is_what_the_machine_counted(string workload, string policy, int threads)
    {
        var options = new WorkloadOptions { Kind = Enum.Parse<WorkloadKind>(workload), SizeBytes = 8L << 20, Threads = threads, Policy = PolicyParser.Parse(policy) };
        bool inspected = false;

        WorkloadResult result = WorkloadRunner.Run(options, inspect: (result, machine, space) =>
        {
            inspected = true;
            foreach (VmEvent item in Enum.GetValues<VmEvent>())
                Assert.Equal(machine.Events.Get(item), result.Event(item));
            for (int order = 1; order <= PageGeometry.PmdOrder; order++)
            {
                foreach (MthpStatItem item in Enum.GetValues<MthpStatItem>())
                    Assert.Equal(machine.MthpStats.Get(order, item), result.Mthp(order, item));
            }

            Assert.Equal(space.AnonPages, result.RssPages);
            Assert.Equal(space.PageTablePages, result.PageTablePages);
            Assert.Equal(machine.Arena.GetBuddyInfo().FreePages, result.FreePages);
            Assert.Equal(0, machine.Arena.CachedPages);
            machine.Validate();
        });

        Assert.True(inspected);
        Assert.Equal(WorkloadOutcome.Completed, result.Outcome);
        Assert.Equal(result.Event(VmEvent.PgFault), result.Event(VmEvent.AnonFolioFault) + result.Event(VmEvent.PmdFolioFault)
            + result.Event(VmEvent.ZeroPageFault) + result.Event(VmEvent.HugeZeroPageFault) + result.Event(VmEvent.CowFault)
            + result.Event(VmEvent.SpuriousFault));
        Assert.Equal(result.Event(VmEvent.AnonFolioFault) + result.Event(VmEvent.PmdFolioFault) + result.Event(VmEvent.CowFault),
            result.FoliosByOrder().Sum(f => f.Folios));

        // Every page of the arena is free, mapped, a page table, a zero page, or in a folio left
        // partly mapped; only the mix unmaps parts of folios, and its shrinker splits them.
        Assert.Equal(result.ArenaPages, result.FreePages + result.RssPages + result.PageTablePages + result.ZeroPages + result.UnmappedFolioPages);
        Assert.Equal(0, result.UnmappedFolioPages);
    }

    [Fact]
    public void One_thread_with_one_seed_makes_the_same_faults_every_time()
    {
        var options = new WorkloadOptions { Kind = WorkloadKind.Mix, SizeBytes = 16L << 20, Policy = PolicySettings.All, FragmentPercent = 50, ArenaBytes = 24L << 20 };

        WorkloadResult first = WorkloadRunner.Run(options);
        WorkloadResult second = WorkloadRunner.Run(options);

        foreach (VmEvent item in Enum.GetValues<VmEvent>())
            Assert.Equal(first.Event(item), second.Event(item));
        Assert.Equal(first.Buddy.FreeBlocksPerOrder.ToArray(), second.Buddy.FreeBlocksPerOrder.ToArray());
        Assert.Equal(first.RssPages, second.RssPages);
    }

    [Fact]
    public void Pinned_pages_are_counted_apart_from_the_workloads_memory()
    {
        var options = new WorkloadOptions { SizeBytes = 4L << 20, ArenaBytes = 32L << 20, FragmentPercent = 50, Policy = PolicySettings.Never };

        WorkloadResult result = WorkloadRunner.Run(options);

        Assert.Equal(4 * 1024 / ArenaFragmenter.PinInterval, result.PinnedPages);
        Assert.Equal(result.ArenaPages, result.FreePages + result.RssPages + result.PageTablePages + result.ZeroPages + result.PinnedPages);
    }

    [Fact]
    public void Running_out_of_memory_stops_the_thread_and_says_where()
    {
        var options = new WorkloadOptions { SizeBytes = 16L << 20, ArenaBytes = 8L << 20, Policy = PolicySettings.Never };

        WorkloadResult result = WorkloadRunner.Run(options, inspect: (_, machine, _) => machine.Validate());

        Assert.Equal(WorkloadOutcome.OutOfMemory, result.Outcome);
        WorkloadFailure failure = Assert.IsType<WorkloadFailure>(result.Failure);
        Assert.InRange(failure.Address, WorkloadOptions.RegionBase, WorkloadOptions.RegionBase + (16UL << 20) - 1);
        Assert.Equal(0, result.FreePages);
        Assert.Equal(1, result.IterationsRun);
    }

    [Fact]
    public void A_segmentation_fault_is_a_result()
    {
        var options = new WorkloadOptions { SizeBytes = 4L << 20, Threads = 2, Iterations = 3 };

        WorkloadResult result = WorkloadRunner.Run(options, new StoreOutsideTheRegion());

        Assert.Equal(WorkloadOutcome.SegmentationFault, result.Outcome);
        Assert.Equal(StoreOutsideTheRegion.Address, result.Failure!.Address);
        Assert.Equal("SIGSEGV at 0x1000", result.Failure.Summary);
        Assert.Equal(1, result.IterationsRun);
    }

    [Fact]
    public void Any_other_exception_on_a_worker_thread_reaches_the_caller()
    {
        var options = new WorkloadOptions { SizeBytes = 4L << 20, Threads = 2 };

        Assert.Throws<InvalidOperationException>(() => WorkloadRunner.Run(options, new Throwing()));
    }

    [Fact]
    public void A_broken_invariant_under_validate_names_the_policy_and_what_broke()
    {
        var options = new WorkloadOptions { SizeBytes = 4L << 20, Validate = true, Policy = PolicyParser.Parse("64K") };

        // A free page given a reference no one holds: the arena's validator catches it, and the
        // run must say so, not exit 0.
        var broken = Assert.Throws<WorkloadInvariantException>(() => WorkloadRunner.Run(options, inspect: (_, machine, _) =>
        {
            Assert.True(machine.Arena.TryAllocate(0, out Folio folio));
            uint pfn = folio.Pfn;
            machine.Arena.Free(folio);
            System.Runtime.CompilerServices.Unsafe.AsRef(in machine.Arena.Page(pfn)).Refcount = 7;
        }));

        Assert.Equal("64K", broken.Policy);
        Assert.StartsWith("--validate: under policy 64K, the machine broke an invariant: ", broken.Message, StringComparison.Ordinal);
        Assert.True(WorkloadInvariantException.IsBrokenInvariant(broken.InnerException!));
    }

    [Fact]
    public void A_passing_validate_is_said_and_one_without_it_is_not()
    {
        CliRun validated = FoliosCli.Run("run", "sequential", "-s", "4M", "-p", "64K", "-p", "never", "--validate");
        Assert.Equal(0, validated.ExitCode);
        Assert.Contains("validated: every invariant of the buddy allocator, the page tables, the VMAs and the fault path holds after the run under each of the 2 policies.", validated.Output, StringComparison.Ordinal);

        CliRun plain = FoliosCli.Run("run", "sequential", "-s", "4M");
        Assert.Equal(0, plain.ExitCode);
        Assert.DoesNotContain("validated:", plain.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Inconsistent_options_are_refused_with_the_value_named()
    {
        var options = new WorkloadOptions { SizeBytes = 8L << 10, Threads = 4 };

        ArgumentException refused = Assert.Throws<ArgumentException>(() => WorkloadRunner.Run(options));
        Assert.Contains("size 8K cannot be shared by 4 threads", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Progress_covers_every_page_of_every_iteration()
    {
        var progress = new Cli.WorkProgress();
        var options = new WorkloadOptions { Kind = WorkloadKind.Strided, SizeBytes = 6L << 20, Threads = 3, Iterations = 2, StrideBytes = 3L << 20 };

        WorkloadRunner.Run(options, progress);

        Assert.Equal(2 * (6L << 20) / PageGeometry.PageSize, progress.Total);
        Assert.Equal(progress.Total, progress.Done);
    }

    private sealed class StoreOutsideTheRegion : AccessPattern
    {
        public const ulong Address = 0x1000;

        public override void Run(WorkloadSlice slice) => slice.Store(Address);
    }

    private sealed class Throwing : AccessPattern
    {
        public override void Run(WorkloadSlice slice) => throw new InvalidOperationException("a bug");
    }
}
