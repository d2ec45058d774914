using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Fuzzing;
using LargeFolios.Folios.Kernel;

namespace LargeFolios.Folios.Commands;

/// <summary>
/// <c>folios fuzz [--count N] [--seed S] [--out DIR]</c>: random scenarios using every command, each
/// run on the model and on the running kernel; every disagreement is reduced to a short scenario
/// and written to DIR. Exit 0 when all agree, 1 when any disagrees, 2 when the kernel side cannot
/// run here (root and THP sysfs are needed).
/// </summary>
internal static class FuzzCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        Option<int> count = CliOptions.Count("--count", "-n", 100, 1, 1_000_000, "a scenario count", "How many scenarios to generate.");
        Option<int?> seed = CliOptions.OptionalCount("--seed", null, 0, int.MaxValue, "a seed", "The first scenario's seed; the rest follow it [default: from the clock].");
        Option<string?> output = CliOptions.File("--out", "-o", "DIR", "Where each disagreement is written, reduced.", defaultPath: "fuzz-findings");
        Option<string?> corpus = CliOptions.File("--corpus", null, "DIR", "Also write every generated scenario here, as generated (a corpus to replay).");
        var command = new Command("fuzz", "Generate random scenarios, run each on the model and on the running kernel, and write every disagreement, reduced, to a folder.")
        {
            count, seed, output, corpus,
        };
        command.SetAction(parsed => Run(console, parsed.GetValue(count), parsed.GetValue(seed) ?? (Environment.TickCount & int.MaxValue), parsed.GetValue(output)!, parsed.GetValue(corpus)));
        return command;
    }

    private static int Run(CliConsole console, int count, int seed, string output, string? corpus)
    {
        var kernel = new KernelScenarioRunner();
        if (kernel.WhyUnavailable() is { } why)
        {
            console.Error.WriteLine($"folios fuzz: cannot run on the kernel: {why}.");
            return ExitCodes.Usage;
        }

        var clock = Stopwatch.StartNew();
        FuzzSummary summary = new DifferentialFuzzer(kernel, output, console.RawOut, corpus).Run(count, seed);
        console.RawOut.Write(string.Create(CultureInfo.InvariantCulture,
            $"folios fuzz --seed {seed} --count {count}: {summary.Scenarios - summary.Differing - summary.KernelCannot - summary.Unsettled} agree, {summary.Differing} differ" +
            $"{(summary.Unsettled > 0 ? $", {summary.Unsettled} unsettled (stats the kernel did not repeat run to run: a busy machine; in {output}/unsettled)" : "")}" +
            $"{(summary.ModelCannot > 0 ? $" ({summary.ModelCannot} of them the model could not run: exit 2)" : "")}" +
            $"{(summary.KernelCannot > 0 ? $", {summary.KernelCannot} not runnable on this kernel" : "")}" +
            $"{(summary.Noise > 0 ? $" ({summary.Noise} of those that agree differed in stats once: other processes' faults)" : "")}" +
            $"{(summary.Differing > 0 ? $"; reduced scenarios in {output}" : "")} ({clock.Elapsed.TotalSeconds:F0} s)\n" +
            $"  on the kernel: {summary.RanToTheEnd} ran to the end, {summary.EndedByFailure} were ended by a refused syscall or a SIGSEGV, {summary.EndedMalformed} by exit 2\n"));
        if (summary.EndedBy.Count > 0)
        {
            IEnumerable<string> most = summary.EndedBy.OrderByDescending(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal).Take(8)
                .Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Key} {e.Value}"));
            console.RawOut.Write($"  ended by: {string.Join(", ", most)}\n");
        }

        console.RawOut.Flush();
        return summary.Differing == 0 ? ExitCodes.Success : ExitCodes.Failure;
    }
}
