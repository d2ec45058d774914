using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using LargeFolios.BuddyAllocator;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Scaling;
using Spectre.Console;

namespace LargeFolios.Folios.Commands;

/// <summary>
/// <c>folios scale</c>: the multi-thread anchor of docs/design.md section 8 (<see cref="ScalingRun"/>), threads each
/// populating their own slice of one address space by write faults, with real zeroing; prints
/// the total throughput and the speed-up over one thread per order and thread count.
/// </summary>
internal static class ScaleCommand
{
    private const long DefaultPerThread = 256L << 20;

    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        Option<int?> threads = CliOptions.OptionalCount("--threads", "-t", 1, 1024, "a thread count",
            "The most threads, measured at 1, 2, 4, ... and this [default: the CPU count].");
        var populate = CliOptions.Flag("--populate", false, "Each thread populates its slice with one MADV_POPULATE_WRITE instead of a store to every page.");
        Option<ByteSize> perThread = CliOptions.Size("--per-thread", null, DefaultPerThread, "Each thread's slice, whole 2M.",
            bytes => bytes > 0 && bytes % (2L << 20) == 0 ? null : "a whole number of 2M, e.g. 64M or 256M");

        var command = new Command("scale", "Measure populating memory by write faults from many threads at once (real memory, zeroed), at orders 0, 4 and 9.")
        {
            threads, populate, perThread,
        };
        command.SetAction(parsed => Run(console, parsed.GetValue(threads) ?? Environment.ProcessorCount, parsed.GetValue(perThread).Bytes, parsed.GetValue(populate)));
        return command;
    }

    private static int Run(CliConsole console, int maxThreads, long perThread, bool populate)
    {
        var progress = new WorkProgress();
        IReadOnlyList<ScalingPoint> points;
        try
        {
            points = console.Progress.Run("scale", progress, () =>
            {
                IReadOnlyList<ScalingPoint> measured = ScalingRun.Measure(maxThreads, perThread, populate, progress);
                progress.Finish();
                return measured;
            });
        }
        catch (HostMemoryException tooBig)
        {
            console.Error.WriteLine($"folios scale: {tooBig.Message.TrimEnd('.')}; expected fewer threads or a smaller --per-thread, or FOLIOS_HOST_MEMORY set higher.");
            return ExitCodes.Usage;
        }

        console.Out.MarkupLine($"[bold]folios scale[/]: {Environment.ProcessorCount} CPUs, up to {maxThreads} threads x {ByteSize.Format(perThread)}, " +
            $"zeroing, {(populate ? "MADV_POPULATE_WRITE per thread" : "one store per page")}, best of {ScalingRun.Rounds}");
        var table = new Table().Border(TableBorder.Rounded);
        foreach (string heading in new[] { "threads", "order", "GB/s", "x1", "ns/page/thread" })
            table.AddColumn(new TableColumn(heading).RightAligned());
        foreach (ScalingPoint point in points)
        {
            table.AddRow(
                point.Threads.ToString(CultureInfo.InvariantCulture),
                $"{point.Order} ({ByteSize.Format((long)PageGeometry.PageSize << point.Order)})",
                point.GigabytesPerSecond.ToString("F2", CultureInfo.InvariantCulture),
                point.SpeedUp.ToString("F2", CultureInfo.InvariantCulture),
                point.NanosecondsPerPage.ToString("F1", CultureInfo.InvariantCulture));
        }

        console.Out.Write(table);
        return ExitCodes.Success;
    }
}
