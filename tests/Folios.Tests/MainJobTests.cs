using System;
using System.Linq;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Commands;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary><c>folios</c> with no arguments: the main job's one report, a column per policy.</summary>
public sealed class MainJobTests
{
    [Fact]
    public void The_main_job_reports_every_policy_side_by_side()
    {
        CliRun run = FoliosCli.Run();

        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.Equal("", run.Error);
        Assert.Contains("metadata-only", run.Output, StringComparison.Ordinal);
        ReportTable report = ReportTable.Parse(run.Output);
        Assert.Equal(MainJobCommand.Policies.Select(p => p.Name), report.Columns);
        for (int column = 0; column < report.Columns.Length; column++)
        {
            Assert.Equal("completed", report.Cell("outcome", column));
            Assert.True(report.Count("faults (pgfault)", column) > 0);
            Assert.Equal(MainJobCommand.Workload.SizeBytes / 4096, report.Count("pages written (distinct)", column));
        }

        foreach (string row in new[] { "4kB (order 0)", "2048kB", "64kB", "all sizes", "page-table pages", "free blocks, order 10 (4M)", "unusable_index, order 9", "extfrag_index, order 9", "time" })
            Assert.Contains(row, report.Labels);

        // The machine is half fragmented: the 2 MiB THPs run out and fall back.
        int always = Array.IndexOf(report.Columns, "always");
        Assert.True(report.Count("folios/2048kB", always) > 0);
        Assert.True(report.Count("fallbacks/2048kB", always) > 0);
        Assert.True(report.Count("all sizes", always) > 0);
    }
}
