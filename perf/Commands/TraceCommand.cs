using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics.Tracing;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Policies;
using LargeFolios.Folios.Tracing;
using LargeFolios.Folios.Workloads;

namespace LargeFolios.Folios.Commands;

/// <summary>
/// <c>folios trace WORKLOAD</c>: <c>folios run</c>'s workload with an EventPipe session on the
/// library's providers (LargeFolios-Allocator, LargeFolios-PageTables, LargeFolios-FaultPath), written to a <c>.nettrace</c> file for <c>folios report</c>,
/// PerfView or TraceEvent. By default the workload runs in a child process started suspended, so
/// the session sees it from its first event, as <c>dotnet-trace collect -- CMD</c> does;
/// <c>--in-process</c> traces this process instead.
/// </summary>
internal static class TraceCommand
{
    /// <summary>The hidden flag a child is started with: run the workload, the parent holds the session.</summary>
    private const string ChildFlag = "--traced-child";

    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var arguments = new WorkloadArguments();
        var output = CliOptions.File("--output", "-o", "FILE", "The trace file.", defaultPath: "folios.nettrace");
        var keywords = new Option<TraceKeyword?>("--keywords", "-k")
        {
            Description = "The subsystems to trace, across the three providers: " + TraceKeywords.Syntax + " [default: all].",
            HelpName = "KEYWORDS",
            CustomParser = ParseKeywords,
        };
        var level = new Option<EventLevel?>("--level", "-l")
        {
            Description = "verbose (every allocation, free and fault) or informational (splits, madvise, munmap, snapshots) [default: verbose].",
            HelpName = "verbose|informational",
            CustomParser = ParseLevel,
        };
        var inProcess = CliOptions.Flag("--in-process", false, "Trace this process, not a child started suspended.");
        var stacks = CliOptions.Flag("--stacks", false, "Record a stack per event (dotnet-trace's default; about fifteen times the cost of an event).");
        var buffer = CliOptions.Count("--buffer", null, 256, 1, 4096, "a size in megabytes",
            "The runtime's event buffer in MB; events that find it full are dropped.");
        var child = new Option<bool>(ChildFlag) { Hidden = true };

        var command = new Command("trace", "Run a workload as 'folios run' does and write the library's events to a .nettrace file (EventPipe).");
        arguments.AddTo(command);
        foreach (Option option in new Option[] { output, keywords, level, inProcess, stacks, buffer, child })
            command.Add(option);
        command.SetAction(async (parsed, _) =>
        {
            WorkloadOptions options = arguments.GetOptions(parsed);
            IReadOnlyList<PolicySettings> policies = arguments.GetPolicies(parsed);
            if (parsed.GetValue(child))
                return RunWorkload(console, options, policies);

            var settings = new TraceSettings(Path.GetFullPath(parsed.GetValue(output)!), parsed.GetValue(keywords) ?? TraceKeyword.All, parsed.GetValue(level) ?? EventLevel.Verbose,
                parsed.GetValue(stacks), parsed.GetValue(buffer));
            if (options.Check() is { } problem)
                return Usage(console, problem);
            return parsed.GetValue(inProcess)
                ? await TraceInProcessAsync(console, settings, options, policies)
                : await TraceChildAsync(console, settings, parsed);
        });
        return command;
    }

    private static async Task<int> TraceInProcessAsync(CliConsole console, TraceSettings settings, WorkloadOptions options, IReadOnlyList<PolicySettings> policies)
    {
        int status;
        try
        {
            status = await TraceSession.InProcessAsync(settings, () => RunWorkload(console, options, policies));
        }
        catch (TraceOutputException unwritable)
        {
            return Usage(console, unwritable.Message);
        }
        catch (TraceSessionException failure)
        {
            console.Error.WriteLine($"folios trace: {failure.Message}");
            return ExitCodes.Failure;
        }

        return Written(console, settings, status);
    }

    private static async Task<int> TraceChildAsync(CliConsole console, TraceSettings settings, ParseResult parsed)
    {
        // The child parses the same command line, and knows by the flag to run the workload only.
        string[] arguments = [.. parsed.Tokens.Select(token => token.Value), ChildFlag];
        int status;
        try
        {
            status = await TraceSession.ChildAsync(settings, TraceSession.Self(arguments));
        }
        catch (TraceOutputException unwritable)
        {
            return Usage(console, unwritable.Message);
        }
        catch (TraceSessionException failure)
        {
            console.Error.WriteLine($"folios trace: {failure.Message}");
            return ExitCodes.Failure;
        }

        return Written(console, settings, status);
    }

    /// <summary>
    /// The workload and its report, as <c>folios run</c> prints it, without the warm-up run: its
    /// events would be in the trace too. The first faults of a traced run include the JIT's
    /// compilation of the fault path.
    /// </summary>
    private static int RunWorkload(CliConsole console, WorkloadOptions options, IReadOnlyList<PolicySettings> policies) =>
        RunCommand.RunAndReport(console, "trace", options, policies, warmUp: false);

    /// <summary>Says what became of the trace: written, kept beside a failed job, or removed when the workload never ran.</summary>
    private static int Written(CliConsole console, TraceSettings settings, int status)
    {
        var file = new FileInfo(settings.OutputPath);
        if (status == ExitCodes.Usage)
        {
            // The child refused its options (what only the workload can check, such as the host's memory): nothing ran.
            file.Delete();
            console.Error.WriteLine("folios trace: the workload did not run; no trace written.");
            return status;
        }

        long bytes = file.Exists ? file.Length : 0;
        string what = status == ExitCodes.Success ? "wrote" : $"the workload failed (status {status}); its trace is in";
        console.Error.WriteLine($"folios trace: {what} {settings.OutputPath} ({bytes / (1024.0 * 1024.0):F1} MiB); read it with 'folios report {settings.OutputPath}'.");
        return status;
    }

    private static int Usage(CliConsole console, string problem)
    {
        console.Error.WriteLine($"folios trace: {problem}.");
        return ExitCodes.Usage;
    }

    private static TraceKeyword? ParseKeywords(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (TraceKeywords.TryParse(text, out TraceKeyword keywords, out string? error))
            return keywords;
        result.AddError($"--keywords: {error}.");
        return TraceKeyword.None;
    }

    private static EventLevel? ParseLevel(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        switch (text.ToLowerInvariant())
        {
            case "verbose":
            case "5":
                return EventLevel.Verbose;
            case "informational":
            case "info":
            case "4":
                return EventLevel.Informational;
            default:
                result.AddError($"--level: {EchoedText.Quote(text)} is not a level; expected verbose or informational.");
                return EventLevel.Verbose;
        }
    }
}
