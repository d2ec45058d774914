using System;
using System.IO;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// <see cref="ScenarioRunner.Replay"/> of scenario files: the exit codes (0, 2 for a malformed
/// line, 1 for a failed command), the error line naming file:line (and the address), and that
/// output stops exactly where the scenario stopped.
/// </summary>
public sealed class ScenarioRunnerTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "fault-scenarios-" + Guid.NewGuid().ToString("N"));

    public ScenarioRunnerTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Scenario(string name, string text)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static (int Code, string Output, string Error) Replay(string path)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        int code = ScenarioRunner.Replay(path, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Replay_of_a_good_scenario_exits_0_with_the_exact_output()
    {
        string path = Scenario("good.scenario", """
            # 64 KiB always; no VM_HUGEPAGE, so no PMD THP under the default global madvise
            thp 64kB always
            mmap 0x40000000 2M

            write 0x40010000     # a 64 KiB folio
            read 0x40000000      # the zero page
            write 0x40021000
            dump
            stats
            madvise 0x40010000 4K dontneed
            shrink
            dump
            stats
            """);

        var (code, output, error) = Replay(path);

        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Equal(
            "0x40000000 1 zero\n0x40010000 16 o4\n0x40020000 16 o4\nend\n"
            + "64kB anon_fault_alloc 2\n64kB nr_anon 2\n"
            // The zap left the first folio partly mapped: queued, then split by the shrinker; its
            // fifteen zero-filled pages became zero-page mappings.
            + "0x40000000 1 zero\n0x40011000 15 zero\n0x40020000 16 o4\nend\n"
            + "64kB anon_fault_alloc 2\n64kB split 1\n64kB split_deferred 1\n64kB nr_anon 1\n",
            output);
    }

    [Fact]
    public void Replay_of_the_design_example_prints_what_Linux_prints()
    {
        string path = Scenario("design.scenario", """
            thp 16kB madvise
            thp 128kB madvise
            mmap 0x40000000 4M
            madvise 0x40000000 4M nohugepage
            write 0x40005000
            madvise 0x40000000 4M hugepage
            write 0x40003000
            write 0x40028000
            read 0x40200000
            dump
            write 0x40201000
            dump
            """);

        var (code, output, error) = Replay(path);

        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Equal(
            "0x40000000 4 o2\n0x40005000 1 o0\n0x40020000 32 o5\n0x40200000 512 zero\nend\n"
            + "0x40000000 4 o2\n0x40005000 1 o0\n0x40020000 32 o5\n0x40200000 512 o9\nend\n",
            output);
    }

    [Fact]
    public void Malformed_line_exits_2_naming_file_and_line_after_printing_what_came_before()
    {
        string path = Scenario("malformed.scenario", """
            mmap 0x40000000 2M
            write 0x40000000
            dump
            # a comment, then the bad line (line 5)
            write 0x40001000 0x40002000
            dump
            write 0x40003000
            dump
            """);

        var (code, output, error) = Replay(path);

        Assert.Equal(2, code);
        Assert.Equal("0x40000000 1 o0\nend\n", output);
        Assert.StartsWith($"{path}:5: ", error, StringComparison.Ordinal);
        Assert.Contains("\"write\" takes 1 argument", error, StringComparison.Ordinal);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("frobnicate 0x40000000", "unknown command")]
    [InlineData("mmap 0x4000000g 2M", "is not a valid address")]
    [InlineData("madvise 0x40000000 2M sometimes", "is not an advice")]
    [InlineData("thp 32kB sometimes", "not a per-size THP setting")]
    [InlineData("thp 8kB always", "is not a THP size")]
    [InlineData("dump now", "\"dump\" takes 0 arguments")]
    public void Every_kind_of_malformed_line_exits_2_and_runs_nothing_after_it(string bad, string why)
    {
        string path = Scenario("bad.scenario", $"mmap 0x40000000 2M\nwrite 0x40000000\ndump\n{bad}\ndump\n");

        var (code, output, error) = Replay(path);

        Assert.Equal(2, code);
        Assert.Equal("0x40000000 1 o0\nend\n", output);
        Assert.StartsWith($"{path}:4: ", error, StringComparison.Ordinal);
        Assert.Contains(why, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_path_that_cannot_be_a_scenario_is_one_cannot_read_line_with_exit_2()
    {
        foreach (var (path, why) in new[]
        {
            ("", "the file name is empty"),
            (_directory, "it is a directory"),
            (Path.Combine(_directory, "absent.scenario"), "Could not find file"),
        })
        {
            var (code, output, error) = Replay(path);
            Assert.Equal(2, code);
            Assert.Equal("", output);
            Assert.Contains("cannot read the scenario: " + why, error, StringComparison.Ordinal);
            Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
    }

    [Fact]
    public void A_line_without_end_is_refused_at_the_limit_after_running_the_lines_before_it()
    {
        string path = Scenario("endless.scenario", "mmap 0x40000000 2M\nwrite 0x40000000\ndump\n" + new string('\0', 1 << 20));

        var (code, output, error) = Replay(path);

        Assert.Equal(2, code);
        Assert.Equal("0x40000000 1 o0\nend\n", output);
        Assert.StartsWith($"{path}:4: the line is longer than {ScenarioReader.MaxLineLength} characters", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Segfault_exits_1_naming_line_and_address_and_runs_nothing_after_it()
    {
        string path = Scenario("segv.scenario", """
            mmap 0x40000000 2M
            write 0x40000000
            dump

            write 0x40200000
            dump
            """);

        var (code, output, error) = Replay(path);

        Assert.Equal(1, code);
        Assert.Equal("0x40000000 1 o0\nend\n", output);
        Assert.StartsWith($"{path}:5: ", error, StringComparison.Ordinal);
        Assert.Contains("segmentation fault", error, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("0x40200000", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_outside_every_mapping_exits_1()
    {
        string path = Scenario("segv-read.scenario", "mmap 0x40000000 2M\nmunmap 0x40000000 4K\nread 0x40000fff\ndump\n");

        var (code, output, error) = Replay(path);

        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.StartsWith($"{path}:3: ", error, StringComparison.Ordinal);
        Assert.Contains("0x40000fff", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Syscall_the_kernel_refuses_exits_1_naming_line_and_address()
    {
        string path = Scenario("einval.scenario", "mmap 0x40000000 2M\ndump\nmunmap 0x40000800 4K\ndump\n");

        var (code, output, error) = Replay(path);

        Assert.Equal(1, code);
        Assert.Equal("end\n", output);
        Assert.StartsWith($"{path}:3: ", error, StringComparison.Ordinal);
        Assert.Contains("0x40000800", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_exits_2_naming_it()
    {
        string path = Path.Combine(_directory, "missing.scenario");

        var (code, output, error) = Replay(path);

        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains(path, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Execute_reports_file_line_and_address_of_a_segfault()
    {
        var output = new StringWriter();
        using var runner = new ScenarioRunner(output, arenaBytes: 64L << 20);
        runner.Execute(ScenarioReader.ParseLine("mmap 0x40000000 2M", "x.scenario", 1)!.Value, "x.scenario");
        ScenarioCommand write = ScenarioReader.ParseLine("write 0x40300010", "x.scenario", 7)!.Value;

        var failed = Assert.Throws<ScenarioExecutionException>(() => runner.Execute(write, "x.scenario"));

        Assert.Equal("x.scenario", failed.File);
        Assert.Equal(7, failed.Line);
        Assert.Equal(0x40300010UL, failed.Address);
        Assert.True(failed.IsSegmentationFault);
        Assert.StartsWith("x.scenario:7: ", failed.Message, StringComparison.Ordinal);
        Assert.Contains("0x40300010", failed.Message, StringComparison.Ordinal);
        Assert.Equal("end\n", runner.AddressSpace.FormatLayout());
        runner.Machine.Validate();
    }

    [Fact]
    public void Run_stops_at_the_first_failed_command()
    {
        var output = new StringWriter { NewLine = "\n" };
        using var runner = new ScenarioRunner(output, arenaBytes: 64L << 20);
        var commands = ScenarioReader.Read(new StringReader("mmap 0x40000000 1M\ndump\nwrite 0x40100000\nwrite 0x40000000\ndump\n"), "inline");

        var failed = Assert.Throws<ScenarioExecutionException>(() => runner.Run(commands, "inline"));

        Assert.Equal(3, failed.Line);
        Assert.Equal("end\n", output.ToString());
        Assert.Equal(0, runner.AddressSpace.AnonPages);
    }
}
