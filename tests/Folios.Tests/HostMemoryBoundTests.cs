using System;
using System.IO;
using LargeFolios.BuddyAllocator;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Policies;
using LargeFolios.Folios.Workloads;
using LargeFolios.Folios.Workloads.Patterns;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// The tool against the host-memory bound: <c>FOLIOS_HOST_MEMORY</c> sets it (a malformed value is
/// a usage error); a run, a scale or a replay that needs more than it has left is refused up front
/// with one line and exit 2, having taken nothing; one that reaches it while running (a bound
/// lowered mid-run) gets the same kind of line, not an out-of-memory result; and a run's footprint
/// bounds what it charges.
/// </summary>
[Collection(ProcessHostMemoryCollection.Name)]
public sealed class HostMemoryBoundTests : IDisposable
{
    private readonly long _limit = HostMemory.Process.LimitBytes;
    private readonly string? _variable = Environment.GetEnvironmentVariable(HostMemoryVariable.Name);
    private readonly string _scenario = Path.GetTempFileName();

    public void Dispose()
    {
        Environment.SetEnvironmentVariable(HostMemoryVariable.Name, _variable);
        HostMemory.Process.LimitBytes = _limit;
        File.Delete(_scenario);
    }

    private static CliRun Folios(string bound, params string[] args)
    {
        Environment.SetEnvironmentVariable(HostMemoryVariable.Name, bound);
        return FoliosCli.Run(args);
    }

    [Fact]
    public void A_run_needing_more_than_the_bound_is_refused_in_one_line_before_anything_is_taken()
    {
        long inUse = HostMemory.Process.InUseBytes;

        CliRun run = Folios("64M", "run", "sequential", "-s", "8G");

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Equal("", run.Output);
        string line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("folios run: size 8G on a 9224M arena needs up to ", line, StringComparison.Ordinal);
        Assert.Contains("of page descriptors", line, StringComparison.Ordinal);
        Assert.Contains("the host-memory bound has 64M left (of 64M)", line, StringComparison.Ordinal);
        Assert.EndsWith("FOLIOS_HOST_MEMORY set higher.", line, StringComparison.Ordinal);
        Assert.Equal(64L << 20, HostMemory.Process.LimitBytes);
        Assert.Equal(inUse, HostMemory.Process.InUseBytes);
    }

    [Fact]
    public void A_run_within_the_bound_runs()
    {
        CliRun run = Folios("256M", "run", "sequential", "-s", "64M", "--validate");

        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.Contains("completed", run.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("0")]
    [InlineData("-1G")]
    public void A_malformed_bound_is_a_usage_error_naming_it(string value)
    {
        CliRun run = Folios(value, "run", "sequential", "-s", "4M");

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Equal($"folios: FOLIOS_HOST_MEMORY={value} is not a host-memory bound; expected a positive size, {ByteSize.Expected}.\n", run.Error.Replace("\r", "", StringComparison.Ordinal));
        Assert.Equal(_limit, HostMemory.Process.LimitBytes);
    }

    [Fact]
    public void A_scale_whose_largest_arena_passes_the_bound_is_refused_before_the_first_point()
    {
        CliRun run = Folios("64M", "scale", "--threads", "2", "--per-thread", "64M");

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Equal("", run.Output);
        string line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("folios scale: Cannot take ", line, StringComparison.Ordinal);
        Assert.Contains("the 2-thread point's 160M arena", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replay_whose_page_tables_reach_the_bound_exits_2_naming_the_line()
    {
        File.WriteAllText(_scenario, "mmap 0x40000000 256G r\nstats\nmadvise 0x40000000 256G populate_read\nstats\n");

        CliRun run = Folios("128M", "replay", _scenario);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Equal("", run.Output);   // the first stats prints nothing: no mTHP has been allocated
        string line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"{_scenario}:3: The fault at 0x", line, StringComparison.Ordinal);
        Assert.Contains("the process's host-memory bound of 128 MiB", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replay_whose_arena_passes_the_bound_is_refused_before_it_starts()
    {
        File.WriteAllText(_scenario, "mmap 0x40000000 2M\n");

        CliRun run = Folios("32M", "replay", _scenario);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Equal($"{_scenario}: Cannot take 64.0 MiB of host memory for the page descriptors of a 4 GiB metadata-only arena", run.Error[..run.Error.IndexOf(':', _scenario.Length + 2)]);
    }

    [Fact]
    public void A_run_that_reaches_the_bound_while_it_runs_is_an_error_not_an_out_of_memory_result()
    {
        // 2 GiB touched every 2 MiB needs 1,024 PTE tables, two chunks of side pages; the pattern
        // lowers the bound to what is charged once the run has passed the up-front check.
        var options = new WorkloadOptions { Kind = WorkloadKind.Sequential, SizeBytes = 2L << 30, Policy = PolicySettings.Never, Validate = true };

        ArgumentException reached = Assert.Throws<ArgumentException>(() => WorkloadRunner.Run(options, new BoundLoweringPattern()));

        Assert.StartsWith("the run reached the host-memory bound at 0x7000", reached.Message, StringComparison.Ordinal);
        Assert.Contains("(thread 0, iteration 0): cannot take 2 MiB of host memory for a 2 MiB chunk of page-table side pages", reached.Message, StringComparison.Ordinal);
        Assert.IsType<HostMemoryException>(reached.InnerException);
    }

    [Theory]
    [InlineData("sequential", 64L << 20, true)]
    [InlineData("mix", 256L << 20, true)]
    [InlineData("random", 32L << 20, false)]
    public void A_runs_footprint_bounds_what_it_charges(string kind, long size, bool metadataOnly)
    {
        var options = new WorkloadOptions { Kind = Enum.Parse<WorkloadKind>(kind, ignoreCase: true), SizeBytes = size, MetadataOnly = metadataOnly, Policy = PolicySettings.All };
        WorkloadFootprint footprint = WorkloadFootprint.For(options);
        long before = HostMemory.Process.InUseBytes;
        long charged = 0;

        WorkloadRunner.Run(options, inspect: (_, _, _) => charged = HostMemory.Process.InUseBytes - before);

        Assert.InRange(charged, footprint.ArenaBytes, footprint.TotalBytes);
        Assert.Equal(before, HostMemory.Process.InUseBytes);
    }

    /// <summary>Lowers the process's bound to what is charged, then stores once per 2 MiB.</summary>
    private sealed class BoundLoweringPattern : AccessPattern
    {
        public override void Run(WorkloadSlice slice)
        {
            HostMemory.Process.LimitBytes = HostMemory.Process.InUseBytes;
            for (ulong address = slice.Start; address < slice.End; address += 2UL << 20)
                slice.Store(address);
            slice.Advance(slice.Pages);
        }
    }
}
