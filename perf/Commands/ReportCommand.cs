using System;
using System.CommandLine;
using System.IO;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.TraceAnalysis;
using Spectre.Console;

namespace LargeFolios.Folios.Commands;

/// <summary>
/// <c>folios report FILE.nettrace [--plot FILE.png] [--arena ID]</c>: reads a trace of the
/// library's providers (<c>LargeFolios-Allocator</c>, <c>LargeFolios-PageTables</c>,
/// <c>LargeFolios-FaultPath</c>) and prints what it says (<see cref="TraceReport"/>), and
/// with <c>--plot</c> draws the order histogram and the free areas over time (<see cref="TracePlot"/>).
/// Exit 0; 2 when the trace cannot be read or the plot cannot be written, with one line on
/// standard error that names the file and the problem.
/// </summary>
internal static class ReportCommand
{
    /// <summary>Creates the command, writing the report to <see cref="CliConsole.Out"/> and errors to <see cref="CliConsole.Error"/>.</summary>
    public static Command Create(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        return Create(console.Out, console.Error);
    }

    /// <summary>Creates the command, writing the report to <paramref name="console"/> and errors to <paramref name="error"/>.</summary>
    public static Command Create(IAnsiConsole console, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(error);
        var file = new Argument<string>("FILE") { Description = $"The .nettrace file (folios trace, or dotnet-trace collect --providers {TraceProviders.DotnetTraceArgument})." };
        var plot = CliOptions.File("--plot", null, "FILE.png", "Also draw the order histogram and the free pages per order over time into this PNG.", extension: ".png");
        var arena = CliOptions.OptionalCount("--arena", null, 0, int.MaxValue, "an arena id", "Only this arena's events (a trace of several arenas mixes them).");
        arena.HelpName = "ID";
        var command = new Command("report", "Report on an allocator trace: folio orders, faults and their latency, splits, per-CPU caches, page tables, free areas.")
        {
            file,
            plot,
            arena,
        };
        command.SetAction(parsed => Run(parsed.GetValue(file)!, parsed.GetValue(plot), parsed.GetValue(arena), console, error));
        return command;
    }

    /// <summary>Reads <paramref name="file"/>, writes the report, and draws the plot when asked.</summary>
    internal static int Run(string file, string? plot, int? arena, IAnsiConsole console, TextWriter error)
    {
        // What can be told of the plot's path before the trace is read is told first: nothing printed, then refused.
        if (plot != null && Directory.Exists(plot))
        {
            error.WriteLine($"folios report: {plot}: cannot write the plot: it is a directory; expected a file name such as {Path.Combine(plot, "folios.png")}");
            return ExitCodes.Usage;
        }

        AllocatorTrace trace;
        try
        {
            trace = AllocatorTrace.Load(file, arena);
        }
        catch (TraceFileException e)
        {
            error.WriteLine($"folios report: {e.Message.ReplaceLineEndings(" ")}");
            return ExitCodes.Usage;
        }

        TraceReport.Write(trace, console);
        if (plot is null)
            return ExitCodes.Success;

        try
        {
            TracePlot.Save(trace, Path.GetFullPath(plot));
        }
        catch (UnauthorizedAccessException)
        {
            error.WriteLine($"folios report: {plot}: cannot write the plot: permission denied");
            return ExitCodes.Usage;
        }
        catch (IOException e)
        {
            error.WriteLine($"folios report: {plot}: cannot write the plot: {e.Message.ReplaceLineEndings(" ")}");
            return ExitCodes.Usage;
        }

        console.WriteLine();
        console.MarkupLine($"Plot: [bold]{Markup.Escape(plot)}[/] (left: folios allocated per order; right: buddy free pages per order over time).");
        return ExitCodes.Success;
    }
}
