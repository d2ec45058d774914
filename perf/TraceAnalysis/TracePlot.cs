using System;
using System.Globalization;
using System.Linq;
using LargeFolios.FaultPath;
using ScottPlot;
using ScottPlot.MultiplotLayouts;
using ScottPlot.TickGenerators;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// <c>folios report --plot FILE.png</c>: one PNG, two panels side by side. Left, folios allocated per
/// order, a bar per order. Right, the buddy allocator's free pages per order over the trace's
/// time, a line per order through every free-area snapshot, of the arena with the most snapshots
/// (or the one the trace was narrowed to), on a log scale.
/// </summary>
internal static class TracePlot
{
    /// <summary>The figure's width in pixels.</summary>
    public const int Width = 1800;

    /// <summary>The figure's height in pixels.</summary>
    public const int Height = 650;

    // Where a zero is drawn on the log axis: one tick below 1 page, labelled 0.
    private const double LogZero = -0.5;

    /// <summary>Draws <paramref name="trace"/> into the PNG at <paramref name="path"/>, replacing it.</summary>
    public static void Save(AllocatorTrace trace, string path)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var figure = new Multiplot();
        figure.AddPlots(2);
        figure.Layout = new Columns();
        DrawOrderHistogram(trace, figure.GetPlot(0));
        DrawFreePagesOverTime(trace, figure.GetPlot(1));
        figure.SavePng(path, Width, Height);
    }

    private static void DrawOrderHistogram(AllocatorTrace trace, Plot plot)
    {
        Tally<int> allocated = trace.Allocations.AllocatedByOrder;
        plot.Title(allocated.Total == 0 ? "Folios allocated per order: none in this trace" : $"Folios allocated per order ({Count(allocated.Total)} in all)");
        plot.XLabel("Folio order (size)");
        plot.YLabel("Folios allocated");

        // Every order from 0 to the largest seen gets a tick, so a gap (no order-1 anon folios)
        // reads as a gap rather than a neighbour.
        var ticks = new NumericManual();
        int highest = allocated.Count == 0 ? 0 : allocated.Keys.Max();
        for (int order = 0; order <= highest; order++)
            ticks.AddMajor(order, $"{order}\n{ThpPolicy.SizeName(order)}");

        Bar[] bars = allocated.Select(pair => new Bar { Position = pair.Key, Value = pair.Value, Label = Count(pair.Value) }).ToArray();
        if (bars.Length > 0)
            plot.Add.Bars(bars).ValueLabelStyle.FontSize = 14;
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Left.TickGenerator = new NumericAutomatic { IntegerTicksOnly = true };
        plot.Axes.SetLimitsX(-0.7, highest + 0.7);
        plot.Axes.Margins(bottom: 0);
    }

    private static void DrawFreePagesOverTime(AllocatorTrace trace, Plot plot)
    {
        plot.XLabel("Time (ms from the session's start)");
        plot.YLabel("Free pages: free blocks × 2^order (log scale)");
        int arenaId = PlottedArena(trace);
        FreeAreaSnapshot[] snapshots = trace.FreeAreas.Where(snapshot => snapshot.ArenaId == arenaId).ToArray();
        if (snapshots.Length == 0)
        {
            plot.Title("Buddy free pages per order: no BuddyFreeArea snapshot in this trace");
            return;
        }

        int arenas = trace.FreeAreas.Select(snapshot => snapshot.ArenaId).Distinct().Count();
        plot.Title($"Buddy free pages per order, arena {arenaId}{(arenas > 1 ? $" (of {arenas} with snapshots)" : "")}, " +
            $"{snapshots.Length} snapshot{(snapshots.Length == 1 ? "" : "s")}");

        // Log scale: the top order holds most free pages, and a linear axis would flatten the
        // small orders, whose rise is what fragmentation looks like.
        double[] times = snapshots.Select(snapshot => snapshot.TimeMs).ToArray();
        int[] orders = snapshots.SelectMany(snapshot => snapshot.FreeBlocks.Keys).Distinct().Order().ToArray();
        long most = 1;
        foreach (int order in orders)
        {
            long[] pages = snapshots.Select(snapshot => snapshot.FreePages(order)).ToArray();
            most = Math.Max(most, pages.Max());
            var line = plot.Add.Scatter(times, pages.Select(value => value > 0 ? Math.Log10(value) : LogZero).ToArray());
            line.LegendText = $"order {order} ({ThpPolicy.SizeName(order)})";
            // Orders are a scale, so colours are too: small orders at the blue end, large at the red.
            line.Color = new ScottPlot.Colormaps.Turbo().GetColor(orders[^1] == 0 ? 0 : 0.05 + 0.9 * order / orders[^1]);
            line.LineWidth = 2;
            line.MarkerSize = snapshots.Length > 50 ? 0 : 7;
        }

        var ticks = new NumericManual();
        ticks.AddMajor(LogZero, "0");
        for (int power = 0; power <= (int)Math.Ceiling(Math.Log10(most)); power++)
            ticks.AddMajor(power, Count((long)Math.Pow(10, power)));
        plot.Axes.Left.TickGenerator = ticks;
        plot.Axes.SetLimitsY(LogZero - 0.25, Math.Ceiling(Math.Log10(most)) + 0.1);
        plot.ShowLegend(Edge.Right);
    }

    /// <summary>The arena the trace was narrowed to, else the one with the most snapshots (the lowest id of a tie).</summary>
    private static int PlottedArena(AllocatorTrace trace) => trace.ArenaFilter
        ?? trace.FreeAreas.GroupBy(snapshot => snapshot.ArenaId)
            .OrderByDescending(group => group.Count()).ThenBy(group => group.Key)
            .Select(group => group.Key).FirstOrDefault();

    private static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
