using System;
using System.Collections.Generic;
using System.Linq;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Policies;
using LargeFolios.Folios.Workloads;

namespace LargeFolios.Folios.Commands;

/// <summary>One workload under several policies, one after another (so their times compare), with a progress bar each.</summary>
internal static class PolicyComparison
{
    /// <summary>Runs <paramref name="options"/> under each of <paramref name="policies"/>, after an untimed warm-up unless <paramref name="warmUp"/> is false.</summary>
    /// <param name="warmUp">False for a traced run: the warm-up's events would be in the trace.</param>
    /// <returns>A result per policy, in order.</returns>
    public static List<WorkloadResult> Run(CliConsole console, WorkloadOptions options, IReadOnlyList<PolicySettings> policies, bool warmUp = true)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(policies);
        var parts = policies.Select(policy => (policy.Name, Progress: new WorkProgress())).ToList();
        return console.Progress.Run(parts, () =>
        {
            if (warmUp)
                WorkloadRunner.WarmUp(options);
            var results = new List<WorkloadResult>(parts.Count);
            for (int i = 0; i < parts.Count; i++)
            {
                results.Add(WorkloadRunner.Run(options with { Policy = policies[i] }, parts[i].Progress));
                parts[i].Progress.Finish();   // after the teardown, which the pages do not count
            }

            return results;
        });
    }
}
