using System;
using System.Collections.Generic;
using System.CommandLine;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Policies;
using LargeFolios.Folios.Reports;
using LargeFolios.Folios.Workloads;

namespace LargeFolios.Folios.Commands;

/// <summary>
/// <c>folios</c> with no arguments, the main job: one representative workload (an allocator's mix
/// of fills, MADV_DONTNEED, MADV_FREE, munmap and refaults, on a machine whose memory is already
/// half fragmented) under the kernel's default THP policy and four mTHP policies, side by side.
/// </summary>
internal static class MainJobCommand
{
    /// <summary>The workload: 768 MiB of the mix on a 1 GiB machine, half of whose 4 MiB blocks are fragmented, so the larger sizes run out and fall back.</summary>
    public static WorkloadOptions Workload { get; } = new()
    {
        Kind = WorkloadKind.Mix,
        SizeBytes = 768L << 20,
        ArenaBytes = 1L << 30,
        FragmentPercent = 50,
        MetadataOnly = true,
        Seed = 42,
    };

    /// <summary>
    /// The policies compared: Linux's default (an unadvised mapping gets order 0), THP always
    /// (2 MiB only), 64K mTHP alone and with 16K beside it (the arm64 and Android choices), and
    /// every size from 16K to 2M.
    /// </summary>
    public static IReadOnlyList<PolicySettings> Policies { get; } =
    [
        PolicySettings.Default,
        PolicySettings.Always,
        PolicyParser.Parse("64K"),
        PolicyParser.Parse("16K,64K"),
        PolicySettings.All.WithName("16K..2M"),
    ];

    /// <summary>The root command, whose own action is the main job; the other commands are added to it.</summary>
    public static RootCommand Create(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var root = new RootCommand(
            "Linux 6.18's large-folio (mTHP) anonymous fault path, modelled: with no command, runs a representative " +
            "workload under the default THP policy and four mTHP policies and prints one report side by side.");
        root.SetAction(_ => Run(console));
        return root;
    }

    private static int Run(CliConsole console)
    {
        List<WorkloadResult> results = PolicyComparison.Run(console, Workload, Policies);
        WorkloadReport.Write(console.Out, "folios: the mTHP fault path under five THP policies (a model of Linux 6.18)", results);
        return ExitCodes.Success;
    }
}
