using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Kernel;
using Xunit;
using Xunit.Abstractions;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// <c>folios replay --kernel</c> and <c>--diff</c>: scenarios run on the running kernel, compared with
/// the model; the knobs put back; the errors where the kernel side cannot run.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class KernelSideTests(ITestOutputHelper output)
{
    private readonly ITestOutputHelper _output = output;

    private static string ScenarioDirectory => Path.Combine(AppContext.BaseDirectory, "Scenarios");

    /// <summary>
    /// Every test scenario, the selftest ports in Scenarios/selftests/ included: the name without the
    /// extension, relative to Scenarios/ with '/' between folders ("selftests/cow-...").
    /// </summary>
    public static TheoryData<string> Scenarios()
    {
        var data = new TheoryData<string>();
        foreach (string name in Directory.GetFiles(ScenarioDirectory, "*.scenario", SearchOption.AllDirectories)
                     .Select(path => Path.ChangeExtension(Path.GetRelativePath(ScenarioDirectory, path), null).Replace(Path.DirectorySeparatorChar, '/'))
                     .Order(StringComparer.Ordinal))
            data.Add(name);
        return data;
    }

    [KernelTheory]
    [MemberData(nameof(Scenarios))]
    public void Every_test_scenario_agrees_with_the_running_kernel(string scenario)
    {
        var diff = new ScenarioDiff(new KernelScenarioRunner());
        string path = Path.Combine(ScenarioDirectory, scenario + ".scenario");
        ScenarioComparison comparison = diff.Compare(path);
        for (int again = 0; again < 2 && comparison.KernelUnrepeatable; again++)
            comparison = diff.Compare(path);

        // The kernel's counters are system-wide: while other processes fault (the other test
        // assemblies run beside this one) its own runs may print different stats, and then it has
        // no answer to hold the model to. Its layouts and endings agreed; the stats are left to the
        // quiet runs (CI's fuzz smoke, folios replay --diff).
        if (comparison.KernelUnrepeatable)
        {
            _output.WriteLine("unsettled: " + comparison.Describe());
            return;
        }

        Assert.True(comparison.Same, comparison.Describe() + (comparison.Kernel.Error is { } e ? $"\nkernel: {e}" : "") + (comparison.Model.Error is { } m ? $"\nmodel: {m}" : ""));
    }

    [KernelFact]
    public void The_kernel_prints_the_design_example_as_the_format_says()
    {
        CliRun run = FoliosCli.Run("replay", "--kernel", Path.Combine(ScenarioDirectory, "01-design-example.scenario"));

        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.Equal(File.ReadAllText(Path.Combine(ScenarioDirectory, "01-design-example.expected")), run.Output);
        Assert.Equal("", run.Error);
    }

    [KernelFact]
    public void Every_knob_a_scenario_changes_is_put_back()
    {
        var sysfs = new ThpSysfs();
        string[] knobs = ["enabled", "hugepages-64kB/enabled", "hugepages-2048kB/enabled", "use_zero_page", "shrink_underused", "defrag",
            "khugepaged/max_ptes_none", "khugepaged/max_ptes_shared", "khugepaged/max_ptes_swap", "khugepaged/scan_sleep_millisecs"];
        Dictionary<string, string> before = UnderMachineLock(() => knobs.ToDictionary(k => k, sysfs.Read));
        using var file = new TemporaryScenario("""
            thp enabled always
            thp 64kB always
            thp 2048kB never
            thp use_zero_page 0
            thp shrink_underused 0
            thp defrag never
            thp khugepaged/max_ptes_none 7
            thp khugepaged/max_ptes_shared 8
            thp khugepaged/max_ptes_swap 9
            mmap 0x40000000 1M
            write 0x40000000
            read 0x50000000
            """);

        CliRun run = FoliosCli.Run("replay", "--kernel", file.Path);

        Assert.Equal(ExitCodes.Failure, run.ExitCode);   // the read outside every mapping
        Dictionary<string, string> after = UnderMachineLock(() => knobs.ToDictionary(k => k, sysfs.Read));
        Assert.All(knobs, knob => Assert.Equal(before[knob], after[knob]));
    }

    /// <summary>
    /// Reads the knobs while no kernel-side run of another process (a fuzz, a --diff) holds them
    /// changed: every run puts them back before it lets the machine's lock go.
    /// </summary>
    private static T UnderMachineLock<T>(Func<T> read)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                using var held = new FileStream(KernelScenarioRunner.LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                return read();
            }
            catch (IOException) when (attempt < 1200)
            {
                System.Threading.Thread.Sleep(100);
            }
        }
    }

    [KernelFact]
    public void A_refused_syscall_names_the_line_the_command_and_the_errno()
    {
        using var file = new TemporaryScenario("mmap 0x40000000 64K\nmunmap 0x40000800 4K\ndump\n");

        CliRun run = FoliosCli.Run("replay", "--kernel", file.Path);

        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        Assert.Equal("", run.Output);
        Assert.Equal($"{file.Path}:2: munmap 0x40000800 0x1000: EINVAL: the running kernel refused it (Invalid argument).\n", run.Error);
    }

    [KernelFact]
    public void A_load_the_kernel_answers_with_sigsegv_ends_the_run_with_status_1()
    {
        using var file = new TemporaryScenario("mmap 0x40000000 64K none\nwrite 0x40000000\ndump\n");

        var output = new StringWriter();
        ScenarioReplayResult result = new KernelScenarioRunner().Replay(file.Path, output, TextWriter.Null);

        Assert.Equal((1, 2, ScenarioReplayResult.SegmentationFault), (result.ExitStatus, result.FailedLine, result.Failure));
        Assert.Equal("", output.ToString());
    }

    [KernelFact]
    public void Forked_processes_share_their_parents_folios_on_the_kernel()
    {
        using var file = new TemporaryScenario("""
            thp 64kB always
            mmap 0x40000000 1M
            write 0x40000000
            fork
            process 1
            dump
            write 0x40001000
            dump
            process 0
            dump
            """);

        var output = new StringWriter();
        ScenarioReplayResult result = new KernelScenarioRunner().Replay(file.Path, output, TextWriter.Null);

        Assert.Equal(0, result.ExitStatus);
        // The child sees the parent's 64K folio; its store copies one page (wp_page_copy) and leaves the
        // rest of the folio mapped; the parent keeps the whole folio.
        Assert.Equal("0x40000000 16 o4\nend\n0x40000000 1 o4\n0x40001000 1 o0\n0x40002000 14 o4\nend\n0x40000000 16 o4\nend\n", output.ToString().Replace("\r", "", StringComparison.Ordinal));
    }

    [KernelFact]
    public void A_malformed_line_lets_the_lines_before_it_run_on_the_kernel()
    {
        using var file = new TemporaryScenario("mmap 0x40000000 64K\nwrite 0x40000000\ndump\njump\ndump\n");

        CliRun run = FoliosCli.Run("replay", "--kernel", file.Path);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Equal("0x40000000 1 o0\nend\n", run.Output);
        Assert.Contains(":4: unknown command \"jump\"", run.Error, StringComparison.Ordinal);
    }

    [KernelFact]
    public void A_scenario_that_maps_over_the_helpers_own_memory_is_refused_with_status_2()
    {
        using var file = new TemporaryScenario("munmap 0x1000 0x7fffffffe000\n");

        CliRun run = FoliosCli.Run("replay", "--kernel", file.Path);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Contains("cannot run on the kernel: line 1 (munmap 0x1000 0x7fffffffe000) touches the helper's own memory", run.Error, StringComparison.Ordinal);
    }

    [KernelFact]
    public void Diff_reports_same_per_file_and_a_count()
    {
        CliRun run = FoliosCli.Run("replay", "--diff", Path.Combine(ScenarioDirectory, "01-design-example.scenario"), Path.Combine(ScenarioDirectory, "07-zero-page-cow.scenario"));

        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.EndsWith("2 of 2 same\n", run.Output, StringComparison.Ordinal);
        Assert.Contains("01-design-example.scenario: same (10 output lines, exit 0)", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_the_helper_the_kernel_side_says_what_it_needs_and_exits_2()
    {
        using var file = new TemporaryScenario("dump\n");
        var runner = new KernelScenarioRunner(helperPath: "/nonexistent/folios-kernel-helper");

        var error = new StringWriter();
        ScenarioReplayResult result = runner.Replay(file.Path, TextWriter.Null, error);

        Assert.Equal(2, result.ExitStatus);
        string line = error.ToString();
        Assert.Single(line.TrimEnd('\n').Split('\n'));
        Assert.Contains(KernelFactAttribute.Unavailable == null || KernelFactAttribute.Unavailable.Contains("helper", StringComparison.Ordinal)
            ? "install gcc" : KernelFactAttribute.Unavailable, line, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_thp_sysfs_the_kernel_side_names_the_missing_file()
    {
        string root = Directory.CreateTempSubdirectory("folios-sysfs").FullName;
        try
        {
            string? why = ThpSysfs.WhyUnavailable(root);
            Assert.NotNull(why);
            Assert.Contains(OperatingSystem.IsLinux() ? "enabled is missing" : "needs Linux", why, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Knob_writes_are_saved_once_and_restored_last_first()
    {
        string root = Directory.CreateTempSubdirectory("folios-sysfs").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "khugepaged"));
            File.WriteAllText(Path.Combine(root, "enabled"), "always [madvise] never\n");
            File.WriteAllText(Path.Combine(root, "khugepaged", "max_ptes_none"), "511\n");
            using (var sysfs = new ThpSysfs(root))
            {
                sysfs.Write("enabled", "always");
                sysfs.Write("enabled", "never");
                sysfs.Write("khugepaged/max_ptes_none", "3");
                Assert.Equal("never", sysfs.Read("enabled"));
                Assert.Equal("3", sysfs.Read("khugepaged/max_ptes_none"));
            }

            // Restored to the selected word (sysfs shows the brackets; a write takes the word).
            Assert.Equal("madvise", File.ReadAllText(Path.Combine(root, "enabled")).Trim());
            Assert.Equal("511", File.ReadAllText(Path.Combine(root, "khugepaged", "max_ptes_none")).Trim());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Replay_takes_one_file_unless_diffing_and_not_both_switches()
    {
        CliRun two = FoliosCli.Run("replay", "a.scenario", "b.scenario");
        CliRun both = FoliosCli.Run("replay", "--kernel", "--diff", "a.scenario");

        Assert.Equal(ExitCodes.Usage, two.ExitCode);
        Assert.Contains("replay takes one FILE, got 2; expected --diff to compare several", two.Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, both.ExitCode);
        Assert.Contains("--kernel and --diff exclude each other", both.Error, StringComparison.Ordinal);
    }
}

/// <summary>Kernel-side tests change machine-wide knobs: they run one at a time, and apart from the other classes that read the counters.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelCollection
{
    public const string Name = "kernel side";
}
