using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Parsing;
using LargeFolios.BuddyAllocator;
using LargeFolios.Perf.Cli;
using LargeFolios.Perf.Policies;
using LargeFolios.Perf.Reports;
using LargeFolios.Perf.Workloads;

namespace LargeFolios.Perf.Commands;

/// <summary>
/// <c>perf run WORKLOAD</c>: one built-in workload (<see cref="WorkloadKind"/>) under one policy,
/// or several side by side, with the main job's report.
/// </summary>
internal static class RunCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var defaults = new WorkloadOptions();
        var workload = new Argument<WorkloadKind>("WORKLOAD")
        {
            Description = "sequential: a store to every page; random: as many stores as pages, at random pages; " +
                "strided: a store every --stride; sparse: per 2M a load, then stores to 1/64 of the pages at random; " +
                "mix: fill, MADV_DONTNEED and MADV_FREE parts, reuse, munmap and mmap every 8th 2M, then the deferred-split shrinker",
            HelpName = string.Join('|', CliOptions.ChoiceNames<WorkloadKind>()),
            CustomParser = result => CliOptions.ParseChoice<WorkloadKind>(result, "WORKLOAD"),
        };
        Option<ByteSize> size = CliOptions.Size("--size", "-s", defaults.SizeBytes,
            "The region the workload maps and touches, split between the threads.", CheckRegionSize);
        Option<int> threads = CliOptions.Count("--threads", "-t", defaults.Threads, 1, WorkloadOptions.MaxThreads, "a thread count",
            "Threads faulting the one address space at once, each in its own slice.");
        var policies = new Option<PolicySettings[]>("--policy", "-p")
        {
            Description = "THP policy; repeat for a column each. " + PolicyParser.Syntax + ".",
            HelpName = "POLICY",
            DefaultValueFactory = _ => [PolicySettings.Default],
            CustomParser = ParsePolicies,
        };
        Option<ByteSize?> arena = CliOptions.OptionalSize("--arena", "-a",
            "The machine's memory, a whole number of 4M blocks [default: the size + 1/8 + 8M, rounded up].", CheckArenaSize);
        var metadataOnly = new Option<bool>("--metadata-only")
        {
            Description = "Page descriptors without memory behind them [default: true]; false backs the arena with memory and zeroes every folio.",
            DefaultValueFactory = _ => defaults.MetadataOnly,
        };
        var seed = new Option<int>("--seed") { HelpName = "N", Description = "Seeds the random choices (thread t draws from N + t).", DefaultValueFactory = _ => defaults.Seed };
        Option<int> iterations = CliOptions.Count("--iterations", "-i", defaults.Iterations, 1, 1_000_000, "an iteration count",
            "Runs of the pattern, each on the region mapped afresh.");
        Option<ByteSize> stride = CliOptions.Size("--stride", null, defaults.StrideBytes, "The strided workload's step.", CheckStride);
        Option<HugePageAdvice?> advise = CliOptions.Choice<HugePageAdvice>("--advise", null,
            "madvise the whole region first: hugepage (VM_HUGEPAGE: madvise sizes, and inherit under enabled=madvise, apply) or nohugepage (no THP) [default: none].");
        Option<int> fragment = CliOptions.Count("--fragment", null, defaults.FragmentPercent, 0, 100, "a percentage",
            "Percent of the arena's 4M blocks to fragment first, pinning one page in every 128K, as a long-running machine's are.");
        var validate = new Option<bool>("--validate") { Description = "Check every invariant of the machine after the run (slow for large sizes)." };

        var command = new Command("run", "Run a built-in workload through the fault path and report faults, folio sizes, fallbacks, memory and the buddy allocator's state.")
        {
            workload, size, threads, policies, arena, metadataOnly, seed, iterations, stride, advise, fragment, validate,
        };
        command.SetAction(parsed =>
        {
            var options = new WorkloadOptions
            {
                Kind = parsed.GetValue(workload),
                SizeBytes = parsed.GetValue(size).Bytes,
                Threads = parsed.GetValue(threads),
                ArenaBytes = parsed.GetValue(arena)?.Bytes ?? 0,
                MetadataOnly = parsed.GetValue(metadataOnly),
                Seed = parsed.GetValue(seed),
                Iterations = parsed.GetValue(iterations),
                StrideBytes = parsed.GetValue(stride).Bytes,
                Advice = parsed.GetValue(advise) ?? HugePageAdvice.None,
                FragmentPercent = parsed.GetValue(fragment),
                Validate = parsed.GetValue(validate),
            };
            return Run(console, options, parsed.GetValue(policies)!);
        });
        return command;
    }

    private static int Run(CliConsole console, WorkloadOptions options, PolicySettings[] policies)
    {
        // What the options cannot say alone (a region too small for the threads) is still a usage error.
        if (options.Check() is { } problem)
        {
            console.Error.WriteLine($"perf run: {problem}.");
            return ExitCodes.Usage;
        }

        List<WorkloadResult> results;
        try
        {
            results = PolicyComparison.Run(console, options, policies);
        }
        catch (ArgumentException refused)
        {
            console.Error.WriteLine($"perf run: {refused.Message}.");
            return ExitCodes.Usage;
        }

        WorkloadReport.Write(console.Out, $"perf run {options.Kind.ToString().ToLowerInvariant()}", results);
        return ExitCodes.Success;
    }

    private static PolicySettings[] ParsePolicies(ArgumentResult result)
    {
        var policies = new List<PolicySettings>();
        foreach (Token token in result.Tokens)
        {
            if (PolicyParser.TryParse(token.Value, out PolicySettings? policy, out string? error))
                policies.Add(policy);
            else
                result.AddError($"--policy: {error}.");
        }

        return [.. policies];
    }

    private static string? CheckRegionSize(long bytes) =>
        bytes > 0 && bytes % PageGeometry.PageSize == 0 && bytes <= WorkloadOptions.MaxRegionBytes
            ? null
            : $"a whole number of 4K pages from 4K to {ByteSize.Format(WorkloadOptions.MaxRegionBytes)}";

    private static string? CheckArenaSize(long bytes) =>
        bytes % WorkloadOptions.ArenaGranule == 0 && (bytes >> PageGeometry.PageShift) <= PageGeometry.MaxPages
            ? null
            : "a whole number of 4M blocks (the buddy allocator's largest), e.g. 512M or 4G";

    private static string? CheckStride(long bytes) =>
        bytes > 0 && bytes % PageGeometry.PageSize == 0 ? null : "a whole number of 4K pages, e.g. 4K, 64K or 2M";
}
