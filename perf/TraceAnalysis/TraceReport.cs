using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;
using Spectre.Console;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// <c>folios report</c>'s text: an <see cref="AllocatorTrace"/> as Spectre tables, one section per
/// question a memory-management engineer asks of a trace (which orders did faults get, why did
/// they fall back, what did they cost, what got split, did the per-CPU caches help, how did the
/// free areas move). A section with nothing in the trace says so in one line.
/// </summary>
internal static class TraceReport
{
    /// <summary>Time buckets the folio-order timeline is cut into.</summary>
    public const int DefaultTimeBuckets = 10;

    /// <summary>Writes the whole report for <paramref name="trace"/> to <paramref name="console"/>.</summary>
    public static void Write(AllocatorTrace trace, IAnsiConsole console, int timeBuckets = DefaultTimeBuckets)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(console);
        WriteHeader(trace, console);
        WriteEvents(trace, console);
        WriteOrders(trace, console);
        WriteTimeline(trace, console, timeBuckets);
        WriteFaults(trace, console);
        WriteLatency(trace, console);
        WriteSplits(trace, console);
        WritePerCpuCaches(trace, console);
        WritePageTables(trace, console);
        WriteMappings(trace, console);
        WriteFreeAreas(trace, console);
    }

    private static void WriteHeader(AllocatorTrace trace, IAnsiConsole console)
    {
        string arenas = trace.ArenaFilter is int only
            ? $"arena {only} (of {Join(trace.Arenas)})"
            : trace.Arenas.Count == 1 ? $"arena {Join(trace.Arenas)}" : $"arenas {Join(trace.Arenas)}";
        // Every provider, those without events too: a zero says which one the session left out.
        string perProvider = string.Join(", ", TraceProviders.Names.Select(provider =>
            $"{provider} {Count(trace.EventsByName.Where(pair => pair.Key.Provider == provider).Sum(pair => pair.Value))}"));
        console.MarkupLine($"[bold]{Markup.Escape(trace.Path)}[/]: {Count(trace.EventsByName.Total)} events ({Markup.Escape(perProvider)}) " +
            $"over {Milliseconds(trace.DurationMs)}, {Markup.Escape(arenas)}");
        foreach (string warning in trace.Warnings)
            console.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
    }

    private static void WriteEvents(AllocatorTrace trace, IAnsiConsole console)
    {
        Section(console, "Events by type");
        if (Empty(console, trace.EventsByName.Total, "no events"))
            return;
        Table table = NewTable("Event", "Provider", "Count");
        table.Columns[1].LeftAligned();   // a name, not a number
        foreach (((string provider, string name), long count) in trace.EventsByName
            .OrderByDescending(pair => pair.Value).ThenBy(pair => pair.Key.Event, StringComparer.Ordinal).ThenBy(pair => pair.Key.Provider, StringComparer.Ordinal))
        {
            table.AddRow(name, provider, Count(count));
        }

        console.Write(table);
    }

    private static void WriteOrders(AllocatorTrace trace, IAnsiConsole console)
    {
        Section(console, "Folios by order");
        AllocationStats allocations = trace.Allocations;
        FaultStats faults = trace.Faults;
        var orders = new SortedSet<int>(allocations.AllocatedByOrder.Keys
            .Concat(allocations.FreedByOrder.Keys).Concat(allocations.FailedByOrder.Keys).Concat(faults.FallbacksByOrder.Keys));
        if (Empty(console, orders.Count, "no folio allocated, freed, failed or fallen back from"))
            return;

        Table table = NewTable("Order", "Size", "Allocated", "Share", "Freed", "Failed", "Fallbacks");
        foreach (int order in orders)
        {
            table.AddRow(order.ToString(CultureInfo.InvariantCulture), ThpPolicy.SizeName(order),
                Count(allocations.AllocatedByOrder[order]), Percent(allocations.AllocatedByOrder[order], allocations.AllocatedByOrder.Total),
                Count(allocations.FreedByOrder[order]), Count(allocations.FailedByOrder[order]), Count(faults.FallbacksByOrder[order]));
        }

        table.AddRow("all", "", Count(allocations.AllocatedByOrder.Total), "", Count(allocations.FreedByOrder.Total),
            Count(allocations.FailedByOrder.Total), Count(faults.FallbacksByOrder.Total));
        console.Write(table);
        console.MarkupLine("[dim]Failed: no free block even after draining the per-CPU caches (AllocationFailed). " +
            "Fallbacks: a fault gave up the order for a lower one (FaultFallback).[/]");
        console.MarkupLine($"Buddy core: {Plural(allocations.BlockSplits, "free block")} split to serve smaller orders, {Plural(allocations.BlockMerges, "freed block")} merged with their buddies.");
    }

    private static void WriteTimeline(AllocatorTrace trace, IAnsiConsole console, int timeBuckets)
    {
        Section(console, "Folios allocated over time, by order");
        AllocationStats allocations = trace.Allocations;
        if (Empty(console, allocations.Timeline.Count, "no folio allocated"))
            return;

        // Short headers: a column per order must fit eleven of them in a terminal's width.
        int[] orders = allocations.AllocatedByOrder.Keys.ToArray();
        IReadOnlyList<OrderTimelineBucket> buckets = allocations.Timeline.Buckets(trace.StartMs, trace.EndMs, timeBuckets);
        Table table = NewTable(["From (ms)", .. orders.Select(order => $"o{order}"), "All"]);
        foreach (OrderTimelineBucket bucket in buckets)
            table.AddRow([Decimal(bucket.StartMs, 1), .. orders.Select(order => Count(bucket.ByOrder[order])), Count(bucket.ByOrder.Total)]);
        console.Write(table);
        console.MarkupLine($"[dim]{Plural(buckets.Count, "bucket")} of {Milliseconds(buckets[0].EndMs - buckets[0].StartMs)}; o4 is order 4 ({ThpPolicy.SizeName(4)}).[/]");
    }

    private static void WriteFaults(AllocatorTrace trace, IAnsiConsole console)
    {
        Section(console, "Faults by kind and order");
        FaultStats faults = trace.Faults;
        if (Empty(console, faults.ByKind.Total + faults.WriteFaults + faults.ReadFaults, "no faults"))
            return;

        Table table = NewTable("Kind", "Order", "Size", "Faults", "Share");
        foreach (IGrouping<FaultKind, KeyValuePair<(FaultKind Kind, int Order), long>> kind in faults.ByKindAndOrder.GroupBy(pair => pair.Key.Kind))
        {
            foreach (((_, int order), long count) in kind)
                table.AddRow(KindName(kind.Key), order.ToString(CultureInfo.InvariantCulture), ThpPolicy.SizeName(order), Count(count), Percent(count, faults.ByKind.Total));
            if (kind.Count() > 1)
                table.AddRow($"{KindName(kind.Key)}, all orders", "", "", Count(faults.ByKind[kind.Key]), Percent(faults.ByKind[kind.Key], faults.ByKind.Total));
        }

        table.AddRow("all", "", "", Count(faults.ByKind.Total), "");
        console.Write(table);
        console.MarkupLine($"{Plural(faults.WriteFaults, "write fault")}, {Plural(faults.ReadFaults, "read fault")}; " +
            $"{Plural(faults.FallbacksByOrder.Total, "fallback")} to a lower order (per order under Folios by order).");
    }

    private static void WriteLatency(AllocatorTrace trace, IAnsiConsole console)
    {
        Section(console, "Fault latency (FaultStart to FaultStop, same thread)");
        FaultStats faults = trace.Faults;
        FaultLatencyPairer pairs = faults.Pairs;
        if (Empty(console, pairs.Samples.Count + pairs.UnpairedStarts + pairs.UnpairedStops, "no faults"))
            return;

        Table table = NewTable("Faults (µs)", "Count", "p50", "p90", "p99", "p99.9", "max");
        AddLatencyRow(table, "all", faults.Latency);
        foreach ((FaultKind kind, LatencySummary latency) in faults.LatencyByKind)
            AddLatencyRow(table, KindName(kind), latency);
        foreach ((int order, LatencySummary latency) in faults.LatencyByFolioOrder)
            AddLatencyRow(table, $"order {order} ({ThpPolicy.SizeName(order)})", latency);
        console.Write(table);
        console.MarkupLine("[dim]By kind, then by the order of the folio the fault allocated.[/]");
        if (pairs.UnpairedStarts + pairs.UnpairedStops > 0)
        {
            console.MarkupLine($"[yellow]Not timed:[/] {Count(pairs.UnpairedStarts)} starts without a stop, {Count(pairs.UnpairedStops)} stops without a start " +
                "(a session that began or ended mid-fault, or lost events).");
        }

        // Each event a fault writes on its way (allocation, buddy split, page table) costs about a
        // microsecond of EventPipe: these are traced latencies, not the untraced fault path's.
        console.MarkupLine("[dim]Latencies include the cost of writing the events inside each fault.[/]");
    }

    private static void AddLatencyRow(Table table, string label, LatencySummary latency) =>
        table.AddRow(label, Count(latency.Count), Micro(latency.P50), Micro(latency.P90), Micro(latency.P99), Micro(latency.P999), Micro(latency.Max));

    private static void WriteSplits(AllocatorTrace trace, IAnsiConsole console)
    {
        Section(console, "Folio splits");
        SplitStats splits = trace.Splits;
        if (Empty(console, splits.ByOrders.Total + splits.RefusalsTotal + splits.DeferredQueued + splits.DeferredScans, "no folio split, refused or deferred"))
            return;

        if (splits.ByOrders.Total > 0)
        {
            Table table = NewTable("Old order", "New order", "Splits");
            foreach (((int oldOrder, int newOrder), long count) in splits.ByOrders)
                table.AddRow($"{oldOrder} ({ThpPolicy.SizeName(oldOrder)})", $"{newOrder} ({ThpPolicy.SizeName(newOrder)})", Count(count));
            console.Write(table);
            console.MarkupLine($"{Plural(splits.ByOrders.Total, "split")}: {Count(splits.Uniform)} uniform, {Count(splits.NonUniform)} non-uniform " +
                $"(the new order is then the smallest); {Plural(splits.FoliosProduced, "folio")} produced.");
        }
        else
        {
            console.MarkupLine("No folio split.");
        }

        if (splits.RefusalsTotal > 0)
        {
            Table refusals = NewTable("Refused because", "Splits");
            foreach ((FolioSplitRefusal reason, long count) in splits.Refusals)
                refusals.AddRow(RefusalName(reason), Count(count));
            if (splits.ArenaOrderOneRefusals > 0)
                refusals.AddRow("order 1 (arena)", Count(splits.ArenaOrderOneRefusals));
            console.Write(refusals);
        }
        else
        {
            console.MarkupLine("No split refused.");
        }

        string queue = splits.DeferredQueueLength < 0 ? "" : $", {Count(splits.DeferredQueueLength)} left queued";
        console.MarkupLine($"Deferred split: {Plural(splits.DeferredQueued, "folio")} queued ({Count(splits.DeferredQueuedPartiallyMapped)} partially mapped); " +
            $"{Plural(splits.DeferredScans, "shrinker run")} scanned {Count(splits.DeferredScanned)}, split {Count(splits.DeferredSplit)}, " +
            $"requeued {Count(splits.DeferredRequeued)}{queue}.");
    }

    private static void WritePerCpuCaches(AllocatorTrace trace, IAnsiConsole console)
    {
        Section(console, "Per-CPU caches");
        PerCpuCacheStats caches = trace.PerCpuCaches;
        if (Empty(console, caches.Allocations + caches.Frees + caches.Refills + caches.Drains, "no allocation, free, refill or drain"))
            return;

        Table table = NewTable("Traffic", "Count", "Through a per-CPU list", "Hit rate");
        table.AddRow("folio allocations", Count(caches.Allocations), Count(caches.AllocationHits), Percent(caches.AllocationHits, caches.Allocations));
        table.AddRow("folio frees", Count(caches.Frees), Count(caches.FreeHits), Percent(caches.FreeHits, caches.Frees));
        console.Write(table);
        console.MarkupLine($"{Plural(caches.Refills, "refill")} took {Plural(caches.RefilledBlocks, "block")} from the buddy core; " +
            $"{Plural(caches.Drains, "drain")} gave back {Plural(caches.DrainedPages, "page")}.");
    }

    private static void WritePageTables(AllocatorTrace trace, IAnsiConsole console)
    {
        Section(console, "Page tables");
        PageTableStats tables = trace.PageTables;
        if (Empty(console, tables.Allocated + tables.Freed + tables.PmdSplitsOfThp + tables.PmdSplitsOfHugeZeroPage, "no page-table page allocated or freed, no PMD split"))
            return;

        Table table = NewTable("Page-table pages", "Count");
        table.AddRow("allocated", Count(tables.Allocated));
        table.AddRow("freed", Count(tables.Freed));
        table.AddRow("most held by one tree", Count(tables.PeakTablePages));
        table.AddRow("PMD splits of a THP", Count(tables.PmdSplitsOfThp));
        table.AddRow("PMD splits of the huge zero page", Count(tables.PmdSplitsOfHugeZeroPage));
        console.Write(table);
    }

    private static void WriteMappings(AllocatorTrace trace, IAnsiConsole console)
    {
        Section(console, "mmap, munmap, madvise");
        MappingStats mappings = trace.Mappings;
        if (Empty(console, mappings.Mmaps + mappings.Munmaps + mappings.MadviseCalls.Total, "no mmap, munmap or madvise"))
            return;

        Table table = NewTable("Call", "Calls", "Bytes", "Pages zapped");
        foreach ((VmaFlags protection, long calls) in mappings.MmapsByProtection)
            table.AddRow($"mmap {ProtectionName(protection)}", Count(calls), Bytes((ulong)mappings.MmapBytesByProtection[protection]), "");
        table.AddRow("munmap", Count(mappings.Munmaps), Bytes(mappings.MunmapBytes), Count(mappings.MunmapPagesZapped));
        foreach ((MadviseAdvice advice, long calls) in mappings.MadviseCalls)
            table.AddRow($"madvise {AdviceName(advice)}", Count(calls), "", Count(mappings.MadvisePagesZapped[advice]));
        console.Write(table);
    }

    private static void WriteFreeAreas(AllocatorTrace trace, IAnsiConsole console)
    {
        Section(console, "Buddy free areas (free pages per order)");
        if (Empty(console, trace.FreeAreas.Count, "no BuddyFreeArea snapshot (Arena.TraceFreeAreas writes one)"))
            return;

        // The first and the last snapshot of each arena say how the workload left its free areas;
        // the plot has the rest. Orders are rows, as /proc/buddyinfo's columns would not fit.
        List<FreeAreaSnapshot> shown = [];
        foreach (IGrouping<int, FreeAreaSnapshot> arena in trace.FreeAreas.GroupBy(snapshot => snapshot.ArenaId).OrderBy(group => group.Key))
        {
            shown.Add(arena.First());
            if (arena.Count() > 1)
                shown.Add(arena.Last());
        }

        int[] orders = shown.SelectMany(snapshot => snapshot.FreeBlocks.Keys).Distinct().Order().ToArray();
        Table table = NewTable(["Order", "Size", .. shown.Select(snapshot => $"arena {snapshot.ArenaId} #{snapshot.Number}\n{Milliseconds(snapshot.TimeMs)}")]);
        foreach (int order in orders)
            table.AddRow([order.ToString(CultureInfo.InvariantCulture), ThpPolicy.SizeName(order), .. shown.Select(snapshot => Count(snapshot.FreePages(order)))]);
        table.AddRow(["all", "", .. shown.Select(snapshot => Count(snapshot.TotalFreePages))]);
        console.Write(table);
        console.MarkupLine($"{Plural(trace.FreeAreas.Count, "snapshot")} in all; the first and last of each arena are shown (--plot draws every one).");
    }

    // ---------------------------------------------------------------- shared pieces

    private static void Section(IAnsiConsole console, string title)
    {
        console.WriteLine();
        console.Write(new Rule($"[bold]{Markup.Escape(title)}[/]") { Justification = Justify.Left });
    }

    /// <summary>Writes "<paramref name="what"/>." and returns true when <paramref name="count"/> is zero.</summary>
    private static bool Empty(IAnsiConsole console, long count, string what)
    {
        if (count != 0)
            return false;
        console.MarkupLine($"[dim]{Markup.Escape(char.ToUpperInvariant(what[0]) + what[1..])} in this trace.[/]");
        return true;
    }

    private static Table NewTable(params string[] columns)
    {
        var table = new Table { Border = TableBorder.Rounded };
        table.AddColumn(new TableColumn(columns[0]));
        foreach (string column in columns[1..])
            table.AddColumn(new TableColumn(column).RightAligned());
        return table;
    }

    // The reader refuses values the enumerations do not define, so every kind, advice and reason has a name.
    private static string KindName(FaultKind kind) => kind.ToString();

    private static string AdviceName(MadviseAdvice advice) => advice.ToString().ToLowerInvariant();

    /// <summary>As /proc/PID/maps writes it, <c>rw-</c>; then the THP bits mmap also takes (HugePage, NoHugePage), by name.</summary>
    private static string ProtectionName(VmaFlags protection)
    {
        string rwx = $"{((protection & VmaFlags.Read) != 0 ? 'r' : '-')}{((protection & VmaFlags.Write) != 0 ? 'w' : '-')}{((protection & VmaFlags.Exec) != 0 ? 'x' : '-')}";
        VmaFlags other = protection & ~(VmaFlags.Read | VmaFlags.Write | VmaFlags.Exec);
        return other == VmaFlags.None ? rwx : $"{rwx} ({other})";
    }

    private static string RefusalName(FolioSplitRefusal reason) => reason switch
    {
        FolioSplitRefusal.InvalidOrder => "invalid order (order 1, or not below the folio's)",
        FolioSplitRefusal.ExtraReferences => "extra references",
        FolioSplitRefusal.NotMapped => "mapped nowhere",
        FolioSplitRefusal.NoMemory => "no memory for a PTE table",
        FolioSplitRefusal.Frozen => "the freeze lost a race",
        _ => reason.ToString(),   // one the library added after this list
    };

    private static string Plural(long count, string noun) => $"{Count(count)} {noun}{(count == 1 ? "" : "s")}";

    private static string Join(IEnumerable<int> values) => string.Join(", ", values);

    private static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Decimal(double value, int digits) => value.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Milliseconds(double value) => Decimal(value, 1) + " ms";

    /// <summary>Microseconds to three significant figures or whole: 0.82, 10.7, 716, 9,293.</summary>
    private static string Micro(double nanoseconds)
    {
        if (!double.IsFinite(nanoseconds))
            return "-";
        double micro = nanoseconds / 1000;
        return micro < 10 ? Decimal(micro, 2) : micro < 100 ? Decimal(micro, 1) : Count((long)Math.Round(micro));
    }

    private static string Percent(long part, long whole) => whole == 0 ? "-" : Decimal(100.0 * part / whole, 1) + " %";

    private static string Bytes(ulong bytes) => bytes >= 1UL << 20 ? Decimal(bytes / (double)(1UL << 20), 1) + " MiB" : Count((long)(bytes >> 10)) + " KiB";
}
