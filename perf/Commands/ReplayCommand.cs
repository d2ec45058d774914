using System;
using System.CommandLine;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Kernel;

namespace LargeFolios.Folios.Commands;

/// <summary>
/// <c>folios replay FILE</c>: runs a scenario (docs/scenario-format.md) through the fault path and
/// prints what its <c>dump</c> and <c>stats</c> lines print, exactly as Linux 6.18 would: plain text,
/// no decoration, byte for byte what the scenario's .expected file holds. <c>--kernel</c> runs it on
/// the running kernel instead and prints the kernel's answer in the same format;
/// <c>--diff FILE...</c> runs each file on both and prints, per file, "same" or the first line
/// where they differ. Exit 0; 1 when a command fails (or, with --diff, when any file differs); 2
/// when a line is malformed, the file unreadable, or the kernel side cannot run here.
/// </summary>
internal static class ReplayCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var files = new Argument<string[]>("FILE") { Description = "The scenario file (with --diff, one or more).", Arity = ArgumentArity.OneOrMore };
        var kernel = CliOptions.Flag("--kernel", false, "Run the scenario on the running Linux kernel (root, THP sysfs) and print its answer.");
        var diff = CliOptions.Flag("--diff", false, "Run each file on the model and on the kernel; print where they differ.");
        var command = new Command("replay", "Replay a scenario file and print what its dump and stats commands print.") { files, kernel, diff };
        command.Validators.Add(result =>
        {
            bool onKernel = result.GetValue(kernel);
            bool both = result.GetValue(diff);
            int count = result.GetValue(files)?.Length ?? 0;
            if (onKernel && both)
                result.AddError("--kernel and --diff exclude each other; expected one of them, or neither.");
            else if (!both && count > 1)
                result.AddError($"replay takes one FILE, got {count}; expected --diff to compare several.");
        });
        command.SetAction(parsed =>
        {
            string[] paths = parsed.GetValue(files)!;
            if (parsed.GetValue(diff))
                return Diff(console, paths);
            if (parsed.GetValue(kernel))
                return (int)new KernelScenarioRunner().Replay(paths[0], console.RawOut, console.Error).ExitStatus;
            return ScenarioRunner.Replay(paths[0], console.RawOut, console.Error);
        });
        return command;
    }

    private static int Diff(CliConsole console, string[] paths)
    {
        var kernel = new KernelScenarioRunner();
        if (kernel.WhyUnavailable() is { } why)
        {
            console.Error.WriteLine($"folios replay --diff: cannot run on the kernel: {why}.");
            return ExitCodes.Usage;
        }

        var diff = new ScenarioDiff(kernel);
        int differing = 0;
        foreach (string path in paths)
        {
            ScenarioComparison comparison = diff.Compare(path);
            if (!comparison.Same)
                differing++;
            console.RawOut.Write(comparison.Describe() + "\n");
            if (comparison.Kernel.ExitStatus == ExitCodes.Usage && comparison.Kernel.Error is { } kernelError && comparison.Model.ExitStatus != ExitCodes.Usage)
                console.RawOut.Write($"  kernel: {kernelError}\n");
        }

        console.RawOut.Write($"{paths.Length - differing} of {paths.Length} same\n");
        console.RawOut.Flush();
        return differing == 0 ? ExitCodes.Success : ExitCodes.Failure;
    }
}
