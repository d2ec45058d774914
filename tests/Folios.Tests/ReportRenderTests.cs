using System.IO;
using LargeFolios.Folios.TraceAnalysis;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>The report's text for the real trace and for a trace without the providers' events.</summary>
[Collection(ReportEventPipeCollection.Name)]
public sealed class ReportRenderTests(ReportTraceFixture fixture)
{
    private static readonly string[] s_sections =
    [
        "Events by type",
        "Folios by order",
        "Folios allocated over time, by order",
        "Faults by kind and order",
        "Fault latency (FaultStart to FaultStop, same thread)",
        "Folio splits",
        "Per-CPU caches",
        "Page tables",
        "mmap, munmap, madvise",
        "Buddy free areas (free pages per order)",
    ];

    [Fact]
    public void The_report_has_every_section_with_the_traces_numbers()
    {
        string report = Render(AllocatorTrace.Load(fixture.TracePath, fixture.ArenaId));

        foreach (string section in s_sections)
            Assert.Contains($"── {section} ──", report);
        Assert.DoesNotContain("warning:", report);
        Assert.DoesNotContain("in this trace.", report);
        Assert.Matches(@"[\d,]+ events \(LargeFolios-Allocator [1-9][\d,]*, LargeFolios-PageTables [1-9][\d,]*, LargeFolios-FaultPath [1-9][\d,]*\) over ", report);
        Assert.Contains($"arena {fixture.ArenaId} (of ", report);

        // A row of each table the workload must fill.
        Assert.Matches(@"│ Folio\s+│\s+4 │\s+64kB │\s+8 │", report);
        Assert.Matches(@"│ PmdFolio\s+│\s+9 │\s+2048kB │\s+1 │", report);
        Assert.Matches(@"│ ZeroPage\s+│\s+1 │", report);
        Assert.Matches(@"│ order 9 \(2048kB\)\s+│\s+1 │", report);
        Assert.Matches(@"│ 4 \(64kB\)\s+│\s+0 \(4kB\) │\s+3 │", report);
        Assert.Matches(@"│ invalid order \(order 1, or not below the folio's\)\s+│\s+16 │", report);
        Assert.Matches(@"│ order 1 \(arena\)\s+│\s+1 │", report);
        Assert.Matches(@"│ FolioSplitRefused\s+│ LargeFolios-FaultPath\s+│\s+16 │", report);
        Assert.Matches(@"│ mmap rw-\s+│\s+3 │\s+6\.1 MiB │", report);
        Assert.Matches(@"│ madvise dontneed\s+│\s+1 │\s+│\s+8 │", report);
        Assert.Matches(@"│ all\s+│\s+│\s+16,384 │", report);
    }

    [Fact]
    public void A_trace_without_the_providers_events_says_so_in_each_section()
    {
        string report = Render(AllocatorTrace.Load(fixture.EmptySessionPath));

        Assert.Contains("warning: no events of LargeFolios-Allocator, LargeFolios-PageTables, LargeFolios-FaultPath: were the providers enabled " +
            "(--providers LargeFolios-Allocator:0x7:5,LargeFolios-PageTables:0x1:5,LargeFolios-FaultPath:0x7:5)?", report);
        Assert.Contains("0 events (LargeFolios-Allocator 0, LargeFolios-PageTables 0, LargeFolios-FaultPath 0)", report);
        foreach (string section in s_sections)
            Assert.Contains($"── {section} ──", report);
        Assert.Contains("No events in this trace.", report);
        Assert.Contains("No faults in this trace.", report);
        Assert.Contains("No folio split, refused or deferred in this trace.", report);
        Assert.Contains("No BuddyFreeArea snapshot (Arena.TraceFreeAreas writes one) in this trace.", report);
        Assert.DoesNotContain("╭", report);   // not one table
    }

    private static string Render(AllocatorTrace trace)
    {
        using var output = new StringWriter();
        // Wide enough for the header and the warnings to stay on one line each, as the asserts read them.
        TraceReport.Write(trace, ReportTestConsole.Into(output, width: 400));
        return output.ToString();
    }
}
