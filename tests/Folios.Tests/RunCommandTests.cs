using System;
using System.Linq;
using LargeFolios.Folios.Cli;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// <c>folios run</c> of every workload on a few MiB, its report read back and checked against what
/// the kernel's fault path must have done: one fault per folio, RSS, page tables, and every page of
/// the arena accounted for.
/// </summary>
public sealed class RunCommandTests
{
    // 4 MiB at 0x700000000000: two PMDs, so PGD + PUD + PMD table + two PTE tables (or two
    // deposited ones for PMD THPs). The default arena is 4M + 1/8 + 8M, rounded up to 16M.
    private const long RegionPages = 1024;
    private const long PageTablePages = 5;
    private const long ArenaPages = 4096;
    private const long ZeroPages = 1;

    [Theory]
    [InlineData("never", "4kB (order 0)", 1)]
    [InlineData("16K", "16kB", 4)]
    [InlineData("64K", "64kB", 16)]
    [InlineData("16K,64K", "64kB", 16)]
    [InlineData("default,64K", "64kB", 16)]
    [InlineData("always", "2048kB", 512)]
    [InlineData("all", "2048kB", 512)]
    public void Sequential_faults_once_per_folio_and_maps_the_whole_region(string policy, string size, long folioPages)
    {
        ReportTable report = Run("run", "sequential", "--size", "4M", "--policy", policy);

        Assert.Equal(RegionPages / folioPages, report.Count("faults (pgfault)"));
        Assert.Equal(RegionPages / folioPages, report.Count("folios/" + size));
        Assert.Equal(RegionPages, report.Pages("RssAnon (MM_ANONPAGES)"));
        Assert.Equal(RegionPages, report.Count("pages written (distinct)"));
        Assert.Equal(PageTablePages, report.Count("page-table pages"));
        Assert.Equal(0, report.Count("all sizes"));   // no fallback: the arena is empty
        Assert.Equal(ArenaPages - RegionPages - PageTablePages - ZeroPages, report.FreePages());
        Assert.Equal(report.FreePages(), report.Pages("free"));
        Assert.Equal("completed", report.Cell("outcome"));
    }

    [Fact]
    public void Threads_fault_their_own_slices_of_one_address_space()
    {
        ReportTable report = Run("run", "sequential", "--size", "8M", "--threads", "2", "--policy", "64K");

        Assert.Equal(2 * RegionPages / 16, report.Count("faults (pgfault)"));
        Assert.Equal(2 * RegionPages, report.Pages("RssAnon (MM_ANONPAGES)"));
        Assert.Equal(0, report.CountOrZero("spurious (another thread won)"));
    }

    [Fact]
    public void Every_iteration_maps_the_region_afresh()
    {
        ReportTable report = Run("run", "sequential", "--size", "4M", "--policy", "never", "--iterations", "3");

        Assert.Equal(3 * RegionPages, report.Count("faults (pgfault)"));
        Assert.Equal(RegionPages, report.Pages("RssAnon (MM_ANONPAGES)"));
        Assert.Equal(3 * RegionPages, report.Count("stores"));
    }

    [Fact]
    public void Random_stores_at_order_0_fault_once_per_distinct_page()
    {
        ReportTable report = Run("run", "random", "--size", "4M", "--policy", "never");

        long written = report.Count("pages written (distinct)");
        Assert.InRange(written, RegionPages / 2, RegionPages - 1);   // about 63% of the pages
        Assert.Equal(written, report.Count("faults (pgfault)"));
        Assert.Equal(written, report.Pages("RssAnon (MM_ANONPAGES)"));
        Assert.Equal(RegionPages, report.Count("stores"));
    }

    [Fact]
    public void Random_stores_with_64K_mthp_map_16_pages_per_fault()
    {
        ReportTable report = Run("run", "random", "--size", "4M", "--policy", "64K");

        long faults = report.Count("faults (pgfault)");
        Assert.Equal(faults, report.Count("folios/64kB"));
        Assert.Equal(16 * faults, report.Pages("RssAnon (MM_ANONPAGES)"));
        Assert.True(16 * faults >= report.Count("pages written (distinct)"));
    }

    [Theory]
    [InlineData("never", 64, 64)]
    [InlineData("16K", 64, 256)]
    [InlineData("64K", 64, 1024)]
    [InlineData("all", 2, 1024)]
    public void Strided_stores_show_the_bloat_of_folios_larger_than_what_is_used(string policy, long faults, long rssPages)
    {
        ReportTable report = Run("run", "strided", "--size", "4M", "--stride", "64K", "--policy", policy);

        Assert.Equal(faults, report.Count("faults (pgfault)"));
        Assert.Equal(rssPages, report.Pages("RssAnon (MM_ANONPAGES)"));
        Assert.Equal(64, report.Count("pages written (distinct)"));
        Assert.Equal(ArenaPages - rssPages - PageTablePages - ZeroPages, report.FreePages());
    }

    [Fact]
    public void Sparse_at_order_0_maps_a_zero_page_per_load_and_a_folio_per_page_written()
    {
        ReportTable report = Run("run", "sparse", "--size", "4M", "--policy", "never");

        long written = report.Count("pages written (distinct)");
        Assert.Equal(2, report.Count("loads"));
        Assert.Equal(2, report.Count("zero page mapped (read)"));
        Assert.Equal(2 + written, report.Count("faults (pgfault)"));
        Assert.Equal(written, report.Pages("RssAnon (MM_ANONPAGES)"));
    }

    [Fact]
    public void Sparse_under_thp_always_replaces_the_huge_zero_page_with_a_thp_on_the_first_store()
    {
        ReportTable report = Run("run", "sparse", "--size", "4M", "--policy", "always");

        Assert.Equal(2, report.Count("huge zero page mapped (read)"));
        Assert.Equal(2, report.Count("new THP, PMD-mapped"));
        Assert.Equal(4, report.Count("faults (pgfault)"));
        Assert.Equal(RegionPages, report.Pages("RssAnon (MM_ANONPAGES)"));
        Assert.Equal(512, report.Pages("huge zero page"));
        Assert.Equal(ArenaPages - RegionPages - PageTablePages - ZeroPages - 512, report.FreePages());
    }

    [Theory]
    [InlineData("never")]
    [InlineData("64K")]
    [InlineData("always")]
    [InlineData("all")]
    public void Mix_keeps_every_invariant_and_counts_its_syscalls(string policy)
    {
        // 16M: eight 2M chunks, a DONTNEED and a FREE each, the eighth unmapped and mapped again.
        ReportTable report = Run("run", "mix", "--size", "16M", "--policy", policy, "--validate");

        Assert.Equal("completed", report.Cell("outcome"));
        Assert.Equal(16, report.Count("madvise calls"));
        Assert.Equal(1, report.Count("munmap + mmap"));
        long byKind = new[] { "new folio, PTE-mapped", "new THP, PMD-mapped", "zero page copied (write)", "spurious (another thread won)" }
            .Sum(label => report.CountOrZero(label));
        Assert.Equal(report.Count("faults (pgfault)"), byKind);
        Assert.True(report.Pages("RssAnon (MM_ANONPAGES)") <= 4 * RegionPages);
    }

    [Fact]
    public void Mix_with_mthp_queues_partly_unmapped_folios_for_deferred_split()
    {
        ReportTable report = Run("run", "mix", "--size", "16M", "--policy", "64K");

        Assert.True(report.Count("split_deferred (partly unmapped)") > 0);
        Assert.True(report.Count("split") > 0);
    }

    [Fact]
    public void Running_out_of_memory_is_a_result_not_a_crash()
    {
        ReportTable report = Run("run", "sequential", "--size", "16M", "--arena", "8M", "--policy", "never");

        Assert.StartsWith("OOM at 0x7000", report.Cell("outcome"), StringComparison.Ordinal);
        Assert.Equal(0, report.FreePages());
        Assert.True(report.Count("out of memory") > 0);
    }

    [Fact]
    public void On_a_fragmented_machine_thps_fall_back_once_the_whole_blocks_run_out()
    {
        // 16M arena: the zero page and the PGD split one 4M block before the fragmenter pins a
        // page every 128K in two others, so three 2M blocks are left for the six PMD faults.
        CliRun run = FoliosCli.Run("run", "sequential", "--size", "12M", "--arena", "16M", "--fragment", "50", "--policy", "always");
        ReportTable report = ReportTable.Parse(run.Output);

        Assert.Contains("fragmented first: 50% of the 4M blocks", run.Output, StringComparison.Ordinal);
        Assert.Equal(3, report.Count("new THP, PMD-mapped"));
        Assert.Equal(3, report.Count("folios/2048kB"));
        Assert.Equal(3, report.Count("fallbacks/2048kB"));
        Assert.Equal(3, report.Count("all sizes"));
        Assert.Equal(3 * RegionPages, report.Pages("RssAnon (MM_ANONPAGES)"));
    }

    [Theory]
    [InlineData("hugepage", "default", 2)]
    [InlineData("nohugepage", "all", 1024)]
    public void The_region_advice_decides_what_madvise_and_never_mean(string advice, string policy, long faults)
    {
        ReportTable report = Run("run", "sequential", "--size", "4M", "--advise", advice, "--policy", policy);

        Assert.Equal(faults, report.Count("faults (pgfault)"));
    }

    [Fact]
    public void With_memory_behind_the_arena_the_counts_are_the_same()
    {
        CliRun run = FoliosCli.Run("run", "sequential", "--size", "4M", "--policy", "64K", "--metadata-only", "false");
        ReportTable report = ReportTable.Parse(run.Output);

        Assert.Contains("backed by memory", run.Output, StringComparison.Ordinal);
        Assert.Equal(64, report.Count("faults (pgfault)"));
        Assert.Equal(ArenaPages - RegionPages - PageTablePages - ZeroPages, report.FreePages());
    }

    [Fact]
    public void Several_policies_make_a_column_each_in_the_order_given()
    {
        ReportTable report = Run("run", "sequential", "--size", "4M", "--policy", "never", "--policy", "64K", "-p", "always");

        Assert.Equal(["never", "64K", "always"], report.Columns);
        Assert.Equal(1024, report.Count("faults (pgfault)", 0));
        Assert.Equal(64, report.Count("faults (pgfault)", 1));
        Assert.Equal(2, report.Count("faults (pgfault)", 2));
    }

    private static ReportTable Run(params string[] args)
    {
        CliRun run = FoliosCli.Run(args);
        Assert.True(run.ExitCode == ExitCodes.Success, $"exit {run.ExitCode}: {run.Error}");
        Assert.Equal("", run.Error);
        Assert.DoesNotContain('\u001b', run.Output);   // no colours or cursor moves in captured output
        return ReportTable.Parse(run.Output);
    }
}
