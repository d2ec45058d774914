using System;
using System.Collections.Generic;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Policies;
using LargeFolios.Folios.Workloads;
using LargeFolios.PageTables;
using Spectre.Console;

namespace LargeFolios.Folios.Reports;

/// <summary>
/// The report of one workload under one or more policies: a heading saying what ran on what
/// machine, then one table with a column per policy and a row per metric (faults, folios by size,
/// fallbacks, splits, memory, the buddy allocator, time), then the policies as sysfs would show
/// them. Rows that are zero under every policy are left out; the headline rows never are.
/// </summary>
internal static class WorkloadReport
{
    /// <summary>Writes the report of <paramref name="results"/> (one workload, a policy each) under <paramref name="title"/>.</summary>
    public static void Write(IAnsiConsole console, string title, IReadOnlyList<WorkloadResult> results)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count == 0)
            throw new ArgumentException("A report needs at least one result.", nameof(results));

        WorkloadOptions options = results[0].Options;
        console.MarkupLine($"[bold]{Markup.Escape(title)}[/]");
        console.WriteLine(DescribeWorkload(options));
        console.WriteLine(DescribeMachine(options, results[0]));
        console.Write(BuildTable(results));
        VmaFlags flags = options.Advice switch
        {
            HugePageAdvice.HugePage => VmaFlags.Read | VmaFlags.Write | VmaFlags.HugePage,
            HugePageAdvice.NoHugePage => VmaFlags.Read | VmaFlags.Write | VmaFlags.NoHugePage,
            _ => VmaFlags.Read | VmaFlags.Write,
        };
        console.WriteLine("policies (sysfs) -> the sizes a write fault in this mapping may map:");
        foreach (PolicySettings policy in results.Select(r => r.Options.Policy))
            console.WriteLine($"  {policy.Name}: {policy.Describe()} -> {policy.DescribeAllowedSizes(flags)}");
        foreach (WorkloadResult result in results.Where(r => r.Failure != null))
        {
            WorkloadFailure failure = result.Failure!;
            console.WriteLine($"  {result.Options.Policy.Name}: thread {failure.Thread} stopped in iteration {failure.Iteration + 1}: {failure.Message}");
        }
    }

    /// <summary>The table alone: a column per result, a row per metric.</summary>
    public static Table BuildTable(IReadOnlyList<WorkloadResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn(new TableColumn("metric"));
        foreach (WorkloadResult result in results)
            table.AddColumn(new TableColumn(Markup.Escape(result.Options.Policy.Name)).RightAligned());

        foreach (ReportSection section in Sections())
        {
            List<ReportRow> rows = section.Rows.Where(row => row.Relevant == null || results.Any(row.Relevant)).ToList();
            if (rows.Count == 0)
                continue;
            table.AddRow(new Markup($"[bold]{Markup.Escape(section.Title)}[/]"));
            foreach (ReportRow row in rows)
                table.AddRow([new Text("  " + row.Label), .. results.Select(r => new Text(row.Cell(r)))]);
        }

        return table;
    }

    private static string DescribeWorkload(WorkloadOptions options)
    {
        var parts = new List<string>
        {
            $"workload: {options.Kind.ToString().ToLowerInvariant()}",
            $"{ByteSize.Format(options.SizeBytes)} mapped at 0x{WorkloadOptions.RegionBase:x}",
            options.Threads == 1 ? "1 thread" : $"{options.Threads} threads, a slice each",
            options.Iterations == 1 ? "1 iteration" : $"{options.Iterations} iterations",
            $"seed {options.Seed}",
        };
        if (options.Kind == WorkloadKind.Strided)
            parts.Add($"stride {ByteSize.Format(options.StrideBytes)}");
        if (options.Advice != HugePageAdvice.None)
            parts.Add($"madvise({(options.Advice == HugePageAdvice.HugePage ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE")})");
        return string.Join(", ", parts);
    }

    private static string DescribeMachine(WorkloadOptions options, WorkloadResult result)
    {
        string memory = options.MetadataOnly
            ? "metadata-only (descriptors, no memory: a fault clears a bit per page instead of zeroing it)"
            : "backed by memory (every folio zeroed by memset)";
        string machine = $"machine: {ByteSize.FormatRounded(options.EffectiveArenaBytes)} arena, {memory}";
        if (options.FragmentPercent > 0)
        {
            machine += $"\nfragmented first: {options.FragmentPercent}% of the 4M blocks, one page in every " +
                $"{ByteSize.Format((long)ArenaFragmenter.PinInterval * PageGeometry.PageSize)} pinned ({ReportFormat.Count(result.PinnedPages)} pages), as on a long-running machine";
        }

        return machine;
    }

    /// <summary>Every row the report can have, by section.</summary>
    private static IEnumerable<ReportSection> Sections()
    {
        yield return new ReportSection("faults",
        [
            new("faults (pgfault)", r => ReportFormat.Count(r.Event(VmEvent.PgFault))),
            EventRow("new folio, PTE-mapped", VmEvent.AnonFolioFault),
            EventRow("new THP, PMD-mapped", VmEvent.PmdFolioFault),
            EventRow("zero page mapped (read)", VmEvent.ZeroPageFault),
            EventRow("huge zero page mapped (read)", VmEvent.HugeZeroPageFault),
            EventRow("zero page copied (write)", VmEvent.CowFault),
            EventRow("spurious (another thread won)", VmEvent.SpuriousFault),
            EventRow("out of memory", VmEvent.OomFault),
        ]);

        var sizes = new List<ReportRow> { new("4kB (order 0)", r => ReportFormat.Count(r.FoliosAllocated(0))) };
        for (int order = 2; order <= PageGeometry.PmdOrder; order++)
        {
            int k = order;
            sizes.Add(new($"{ThpPolicy.SizeName(k)}", r => ReportFormat.Count(r.FoliosAllocated(k)), r => r.FoliosAllocated(k) != 0));
        }

        yield return new ReportSection("folios by size (anon_fault_alloc)", sizes);

        var fallbacks = new List<ReportRow> { new("all sizes", r => ReportFormat.Count(r.MthpTotal(MthpStatItem.AnonFaultFallback))) };
        for (int order = 2; order <= PageGeometry.PmdOrder; order++)
            fallbacks.Add(MthpRow($"{ThpPolicy.SizeName(order)}", order, MthpStatItem.AnonFaultFallback));
        yield return new ReportSection("fallbacks (anon_fault_fallback)", fallbacks);

        yield return new ReportSection("splits",
        [
            MthpTotalRow("split_deferred (partly unmapped)", MthpStatItem.SplitDeferred),
            MthpTotalRow("split", MthpStatItem.Split),
            MthpTotalRow("split_failed", MthpStatItem.SplitFailed),
            EventRow("thp_split_pmd", VmEvent.ThpSplitPmd),
            EventRow("zero pages remapped after split", VmEvent.ZeroPageRemap),
            MthpTotalRow("nr_anon_partially_mapped (end)", MthpStatItem.NrAnonPartiallyMapped),
        ]);

        yield return new ReportSection("memory (end)",
        [
            new("RssAnon (MM_ANONPAGES)", r => ReportFormat.Kilobytes(r.RssPages)),
            new("pages written (distinct)", r => ReportFormat.Count(r.PagesWritten)),
            new("RSS / pages written", r => ReportFormat.Ratio(r.PagesWritten == 0 ? double.NaN : r.RssPages / (double)r.PagesWritten)),
            new("page-table pages", r => ReportFormat.Count(r.PageTablePages)),
            new("in folios, unmapped", r => ReportFormat.Count(r.UnmappedFolioPages), r => r.UnmappedFolioPages != 0),
            new("huge zero page", r => ReportFormat.Kilobytes(r.ZeroPages - 1), r => r.ZeroPages > 1),
        ]);

        var buddy = new List<ReportRow>
        {
            new("free", r => ReportFormat.Kilobytes(r.FreePages)),
        };
        for (int order = 0; order <= PageGeometry.DefaultMaxOrder; order++)
        {
            int k = order;
            buddy.Add(new($"free blocks, order {k,2} ({ByteSize.Format((long)PageGeometry.PageSize << k)})",
                r => k <= r.Buddy.MaxOrder ? ReportFormat.Count(r.Buddy.FreeBlocks(k)) : "-"));
        }

        buddy.Add(new("unusable_index, order 9", r => ReportFormat.Index(r.UnusableIndexAtPmd)));
        buddy.Add(new("extfrag_index, order 9", r => ReportFormat.Index(r.FragmentationIndexAtPmd)));
        yield return new ReportSection("buddy allocator (/proc/buddyinfo, drained)", buddy);

        yield return new ReportSection("run",
        [
            new("outcome", r => r.Failure?.Summary ?? "completed"),
            new("time", r => ReportFormat.Milliseconds(r.Elapsed)),
            new("time per 4K of the region", r => ReportFormat.Nanoseconds(r.Elapsed.TotalNanoseconds / r.RegionPagesCovered)),
            new("stores", r => ReportFormat.Count(r.Stores)),
            new("loads", r => ReportFormat.Count(r.Loads), r => r.Loads != 0),
            new("madvise calls", r => ReportFormat.Count(r.Madvises), r => r.Madvises != 0),
            new("munmap + mmap", r => ReportFormat.Count(r.Remaps), r => r.Remaps != 0),
        ]);
    }

    private static ReportRow EventRow(string label, VmEvent item) =>
        new(label, r => ReportFormat.Count(r.Event(item)), r => r.Event(item) != 0);

    private static ReportRow MthpRow(string label, int order, MthpStatItem item) =>
        new(label, r => ReportFormat.Count(r.Mthp(order, item)), r => r.Mthp(order, item) != 0);

    private static ReportRow MthpTotalRow(string label, MthpStatItem item) =>
        new(label, r => ReportFormat.Count(r.MthpTotal(item)), r => r.MthpTotal(item) != 0);

    /// <summary>One metric: its label, its cell for a result, and when it is worth a row (null: always).</summary>
    private sealed record ReportRow(string Label, Func<WorkloadResult, string> Cell, Func<WorkloadResult, bool>? Relevant = null);

    /// <summary>A heading and the rows under it.</summary>
    private sealed record ReportSection(string Title, IReadOnlyList<ReportRow> Rows);
}
