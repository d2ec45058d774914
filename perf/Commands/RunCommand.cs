using System;
using System.Collections.Generic;
using System.CommandLine;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Policies;
using LargeFolios.Folios.Reports;
using LargeFolios.Folios.Workloads;
using Spectre.Console;

namespace LargeFolios.Folios.Commands;

/// <summary>
/// <c>folios run WORKLOAD</c>: one built-in workload (<see cref="WorkloadKind"/>) under one policy,
/// or several side by side, with the main job's report.
/// </summary>
internal static class RunCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var arguments = new WorkloadArguments();
        var command = new Command("run", "Run a built-in workload through the fault path and report faults, folio sizes, fallbacks, memory and the buddy allocator's state.");
        arguments.AddTo(command);
        command.SetAction(parsed => RunAndReport(console, "run", arguments.GetOptions(parsed), arguments.GetPolicies(parsed)));
        return command;
    }

    /// <summary>
    /// Runs the workload under every policy and writes the report; what the options or the host
    /// refuse is a usage error in <c>folios <paramref name="command"/></c>'s name. Shared with <c>folios trace</c>.
    /// </summary>
    internal static int RunAndReport(CliConsole console, string command, WorkloadOptions options, IReadOnlyList<PolicySettings> policies, bool warmUp = true)
    {
        // What the options cannot say alone (a region too small for the threads) is still a usage error.
        if (options.Check() is { } problem)
        {
            console.Error.WriteLine($"folios {command}: {problem}.");
            return ExitCodes.Usage;
        }

        List<WorkloadResult> results;
        try
        {
            results = PolicyComparison.Run(console, options, policies, warmUp);
        }
        catch (ArgumentException refused)
        {
            console.Error.WriteLine($"folios {command}: {refused.Message}.");
            return ExitCodes.Usage;
        }
        catch (WorkloadInvariantException broken)
        {
            console.Error.WriteLine($"folios {command}: {broken.Message}");
            return ExitCodes.Failure;
        }

        WorkloadReport.Write(console.Out, $"folios {command} {options.Kind.ToString().ToLowerInvariant()}", results);
        if (options.Validate)
            console.Out.WriteLine($"validated: every invariant of the buddy allocator, the page tables, the VMAs and the fault path holds after the run under each of the {results.Count} {(results.Count == 1 ? "policy" : "policies")}.");
        return ExitCodes.Success;
    }
}
