using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Parsing;
using LargeFolios.BuddyAllocator;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Policies;
using LargeFolios.Folios.Workloads;

namespace LargeFolios.Folios.Commands;

/// <summary>
/// The workload argument and options of <c>folios run</c>, for every command that runs a workload:
/// add them to a command, then read a parse result back as <see cref="WorkloadOptions"/> and the
/// policies to run it under.
/// </summary>
internal sealed class WorkloadArguments
{
    private static readonly WorkloadOptions s_defaults = new();

    private readonly Argument<WorkloadKind> _workload;
    private readonly Option<ByteSize> _size;
    private readonly Option<int> _threads;
    private readonly Option<PolicySettings[]> _policies;
    private readonly Option<ByteSize?> _arena;
    private readonly Option<bool> _metadataOnly;
    private readonly Option<int> _seed;
    private readonly Option<int> _iterations;
    private readonly Option<ByteSize> _stride;
    private readonly Option<HugePageAdvice?> _advise;
    private readonly Option<int> _fragment;
    private readonly Option<bool> _validate;

    /// <summary>Creates the argument and options, each with its parser, range and help.</summary>
    public WorkloadArguments()
    {
        _workload = new Argument<WorkloadKind>("WORKLOAD")
        {
            Description = "sequential: a store to every page; random: as many stores as pages, at random pages; " +
                "strided: a store every --stride; sparse: per 2M a load, then stores to 1/64 of the pages at random; " +
                "mix: fill, MADV_DONTNEED and MADV_FREE parts, reuse, munmap and mmap every 8th 2M, then the deferred-split shrinker",
            HelpName = string.Join('|', CliOptions.ChoiceNames<WorkloadKind>()),
            CustomParser = result => CliOptions.ParseChoice<WorkloadKind>(result, "WORKLOAD"),
        };
        _size = CliOptions.Size("--size", "-s", s_defaults.SizeBytes,
            "The region the workload maps and touches, split between the threads.", CheckRegionSize);
        _threads = CliOptions.Count("--threads", "-t", s_defaults.Threads, 1, WorkloadOptions.MaxThreads, "a thread count",
            "Threads faulting the one address space at once, each in its own slice.");
        _policies = new Option<PolicySettings[]>("--policy", "-p")
        {
            Description = "THP policy; repeat for a column each. " + PolicyParser.Syntax + ".",
            HelpName = "POLICY",
            DefaultValueFactory = _ => [PolicySettings.Default],
            CustomParser = ParsePolicies,
        };
        _arena = CliOptions.OptionalSize("--arena", "-a",
            "The machine's memory, a whole number of 4M blocks [default: the size + 1/8 + 8M, rounded up].", CheckArenaSize);
        _metadataOnly = CliOptions.Flag("--metadata-only", s_defaults.MetadataOnly,
            "Page descriptors without memory behind them; false backs the arena with memory and zeroes every folio.");
        _seed = CliOptions.Count("--seed", null, s_defaults.Seed, int.MinValue, int.MaxValue, "a seed",
            "Seeds the random choices (thread t draws from N + t).");
        _iterations = CliOptions.Count("--iterations", "-i", s_defaults.Iterations, 1, 1_000_000, "an iteration count",
            "Runs of the pattern, each on the region mapped afresh.");
        _stride = CliOptions.Size("--stride", null, s_defaults.StrideBytes, "The strided workload's step.", CheckStride);
        _advise = CliOptions.Choice<HugePageAdvice>("--advise", null,
            "madvise the whole region first: hugepage (VM_HUGEPAGE: madvise sizes, and inherit under enabled=madvise, apply) or nohugepage (no THP) [default: none].");
        _fragment = CliOptions.Count("--fragment", null, s_defaults.FragmentPercent, 0, 100, "a percentage",
            "Percent of the arena's 4M blocks to fragment first, pinning one page in every 128K, as a long-running machine's are.");
        _validate = CliOptions.Flag("--validate", false, "Check every invariant of the machine after each policy's run and say so (slow for large sizes).");
    }

    /// <summary>Adds the argument and every option to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Add(_workload);
        foreach (Option option in new Option[] { _size, _threads, _policies, _arena, _metadataOnly, _seed, _iterations, _stride, _advise, _fragment, _validate })
            command.Add(option);
    }

    /// <summary>The workload a parse result names, under its first policy.</summary>
    public WorkloadOptions GetOptions(ParseResult parsed)
    {
        ArgumentNullException.ThrowIfNull(parsed);
        return new WorkloadOptions
        {
            Kind = parsed.GetValue(_workload),
            SizeBytes = parsed.GetValue(_size).Bytes,
            Threads = parsed.GetValue(_threads),
            Policy = GetPolicies(parsed)[0],
            ArenaBytes = parsed.GetValue(_arena)?.Bytes ?? 0,
            MetadataOnly = parsed.GetValue(_metadataOnly),
            Seed = parsed.GetValue(_seed),
            Iterations = parsed.GetValue(_iterations),
            StrideBytes = parsed.GetValue(_stride).Bytes,
            Advice = parsed.GetValue(_advise) ?? HugePageAdvice.None,
            FragmentPercent = parsed.GetValue(_fragment),
            Validate = parsed.GetValue(_validate),
        };
    }

    /// <summary>Every --policy given, in order; Linux's default when none was.</summary>
    public IReadOnlyList<PolicySettings> GetPolicies(ParseResult parsed)
    {
        ArgumentNullException.ThrowIfNull(parsed);
        return parsed.GetValue(_policies) is { Length: > 0 } policies ? policies : [PolicySettings.Default];
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
        bytes > 0 && bytes % WorkloadOptions.ArenaGranule == 0 && bytes <= WorkloadOptions.MaxArenaBytes
            ? null
            : $"a whole number of 4M blocks (the buddy allocator's largest) from 4M to {ByteSize.Format(WorkloadOptions.MaxArenaBytes)}, e.g. 512M or 4G; leave it out for the default";

    private static string? CheckStride(long bytes) =>
        bytes > 0 && bytes % PageGeometry.PageSize == 0 ? null : "a whole number of 4K pages, e.g. 4K, 64K or 2M";
}
