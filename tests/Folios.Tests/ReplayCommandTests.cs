using System;
using System.IO;
using LargeFolios.Folios.Cli;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary><c>folios replay</c>: the scenario's dumps byte for byte, and the replay runner's own exit codes.</summary>
public sealed class ReplayCommandTests
{
    [Theory]
    [InlineData("01-design-example")]
    [InlineData("14-dontneed-part-of-mthp")]
    [InlineData("16-dontneed-part-of-pmd-thp-shrink")]
    public void Replay_prints_exactly_the_expected_file(string scenario)
    {
        string directory = Path.Combine(AppContext.BaseDirectory, "Scenarios");
        string expected = File.ReadAllText(Path.Combine(directory, scenario + ".expected"));

        CliRun run = FoliosCli.Run("replay", Path.Combine(directory, scenario + ".scenario"));

        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.Equal(expected, run.Output);
        Assert.Equal("", run.Error);
    }

    [Fact]
    public void A_store_outside_every_mapping_exits_1_after_printing_what_came_before()
    {
        using var file = new TemporaryScenario("mmap 0x40000000 64K\nwrite 0x40000000\ndump\nwrite 0x50000000\ndump\n");

        CliRun run = FoliosCli.Run("replay", file.Path);

        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        Assert.Equal("0x40000000 1 o0\nend\n", run.Output);
        Assert.Contains(":4:", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_line_exits_2_and_nothing_after_it_runs()
    {
        using var file = new TemporaryScenario("mmap 0x40000000 64K\ndump\nfrobnicate 0x40000000\ndump\n");

        CliRun run = FoliosCli.Run("replay", file.Path);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Equal("end\n", run.Output);
        Assert.Contains(":3: unknown command \"frobnicate\"", run.Error, StringComparison.Ordinal);
    }
}
