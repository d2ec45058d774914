using LargeFolios.Folios.Cli;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>Malformed command lines: one message on standard error naming the bad value and what was expected, exit 2, nothing run.</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData(new[] { "frob" }, "\"frob\"")]
    [InlineData(new[] { "run" }, "\"run\"")]
    [InlineData(new[] { "run", "walk" }, "\"walk\" is not one of sequential, random, strided, sparse, mix")]
    [InlineData(new[] { "run", "sequential", "--size", "12Q" }, "--size: \"12Q\" is not a size; expected a number of bytes")]
    [InlineData(new[] { "run", "sequential", "--size", "6000" }, "--size: \"6000\" is out of range; expected a whole number of 4K pages")]
    [InlineData(new[] { "run", "sequential", "--threads", "0" }, "--threads: \"0\" is not a thread count; expected a whole number from 1 to 1024")]
    [InlineData(new[] { "run", "sequential", "--threads", "many" }, "--threads: \"many\" is not a thread count")]
    [InlineData(new[] { "run", "sequential", "--policy", "24K" }, "\"24K\" is not a THP size; expected a power of two from 16K to 2M")]
    [InlineData(new[] { "run", "sequential", "--policy", "8K" }, "\"8K\" (order 1) has no THP setting")]
    [InlineData(new[] { "run", "sequential", "--policy", "16K,4M" }, "\"4M\" is larger than a PMD (2M)")]
    [InlineData(new[] { "run", "sequential", "--policy", "64K=sometimes" }, "\"64K=sometimes\": expected 64K=always, 64K=inherit, 64K=madvise or 64K=never")]
    [InlineData(new[] { "run", "sequential", "--policy", "huge" }, "\"huge\" is not a policy, a size or a setting")]
    [InlineData(new[] { "run", "sequential", "--arena", "6M" }, "--arena: \"6M\" is out of range; expected a whole number of 4M blocks")]
    [InlineData(new[] { "run", "sequential", "--fragment", "101" }, "--fragment: \"101\" is not a percentage")]
    [InlineData(new[] { "run", "sequential", "--advise", "maybe" }, "--advise: \"maybe\" is not one of none, hugepage, nohugepage")]
    [InlineData(new[] { "run", "sequential", "--size", "8K", "--threads", "4" }, "size 8K cannot be shared by 4 threads")]
    [InlineData(new[] { "replay" }, "\"replay\"")]
    [InlineData(new[] { "scale", "--per-thread", "3M" }, "--per-thread: \"3M\" is out of range; expected a whole number of 2M")]
    [InlineData(new[] { "run", "sequential", "--seed", "abc" }, "--seed: \"abc\" is not a seed; expected a whole number from -2147483648 to 2147483647")]
    [InlineData(new[] { "run", "sequential", "--arena", "0" }, "--arena: \"0\" is out of range; expected a whole number of 4M blocks")]
    [InlineData(new[] { "run", "sequential", "--metadata-only", "maybe" }, "--metadata-only: \"maybe\" is not true or false; expected --metadata-only, --metadata-only true or --metadata-only false")]
    [InlineData(new[] { "run", "sequential", "--validate", "yes" }, "--validate: \"yes\" is not true or false")]
    [InlineData(new[] { "run", "sequential", "--frob\u001b[31m" }, "Unrecognized command or argument \"--frob\\x1B[31m\"")]
    [InlineData(new[] { "report", "x.nettrace", "--arena", "abc" }, "--arena: \"abc\" is not an arena id; expected a whole number from 0 to 2147483647")]
    [InlineData(new[] { "report", "x.nettrace", "--plot", "" }, "--plot: the file name is empty; expected a file ending in .png")]
    [InlineData(new[] { "report", "x.nettrace", "--plot", "x.txt" }, "--plot: \"x.txt\" does not end in .png; expected a .png file name")]
    [InlineData(new[] { "trace", "sequential", "-o", "" }, "--output: the file name is empty")]
    public void A_bad_command_line_names_the_bad_value_and_exits_2(string[] args, string message)
    {
        CliRun run = FoliosCli.Run(args);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Contains(message, run.Error, System.StringComparison.Ordinal);
        Assert.Equal("", run.Output);
    }

    [Fact]
    public void Standard_error_never_carries_a_control_character_from_the_input()
    {
        // The path reaches the message inside .NET's own exception text, unquoted by the tool.
        CliRun run = FoliosCli.Run("report", "\u001b[31mred.nettrace");

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.DoesNotContain('\u001b', run.Error);
        Assert.Contains("\\x1B[31mred.nettrace", run.Error, System.StringComparison.Ordinal);
    }

    [Fact]
    public void A_response_file_word_is_a_word_not_a_file_to_read()
    {
        CliRun run = FoliosCli.Run("@/");

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Contains("\"@/\"", run.Error, System.StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_command_lists_the_commands()
    {
        CliRun run = FoliosCli.Run("frob");

        Assert.Contains("Commands: run, replay, fuzz, scale", run.Error, System.StringComparison.Ordinal);
        Assert.Contains("See 'folios --help'.", run.Error, System.StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_option_points_at_its_commands_help()
    {
        CliRun run = FoliosCli.Run("run", "mix", "--threads", "0");

        Assert.EndsWith("See 'folios run --help'.\n", run.Error.ReplaceLineEndings("\n"), System.StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_scenario_file_is_replays_own_exit_2()
    {
        CliRun run = FoliosCli.Run("replay", "no-such-file.scenario");

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("no-such-file.scenario: cannot read the scenario", run.Error, System.StringComparison.Ordinal);
        Assert.Equal("", run.Output);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("run", "--help")]
    [InlineData("replay", "--help")]
    [InlineData("scale", "--help")]
    public void Help_goes_to_standard_output_and_exits_0(params string[] args)
    {
        CliRun run = FoliosCli.Run(args);

        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.Contains("Usage:", run.Output, System.StringComparison.Ordinal);
        Assert.Equal("", run.Error);
    }

    [Theory]
    [InlineData("run")]
    [InlineData("trace")]
    [InlineData("report")]
    [InlineData("replay")]
    [InlineData("scale")]
    public void Help_names_every_value_and_gives_each_default_once(string command)
    {
        CliRun run = FoliosCli.Run(command, "--help");

        foreach (string line in run.Output.Split('\n'))
        {
            Assert.True(line.Split("[default:").Length <= 2, $"two defaults: {line}");
            Assert.DoesNotMatch(@"--[\w-]+ <[a-z][a-z-]*>", line);   // System.CommandLine's placeholder: the option's own name
            Assert.DoesNotContain("System.", line, System.StringComparison.Ordinal);
        }

        if (command == "run")
            Assert.Contains("--metadata-only <true|false>", run.Output, System.StringComparison.Ordinal);
        if (command == "report")
        {
            Assert.Contains("--plot <FILE.png>", run.Output, System.StringComparison.Ordinal);
            Assert.Contains("--arena <ID>", run.Output, System.StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Run_help_documents_the_policy_syntax_and_the_workloads()
    {
        CliRun run = FoliosCli.Run("run", "--help");

        Assert.Contains("<sequential|random|strided|sparse|mix>", run.Output, System.StringComparison.Ordinal);
        Assert.Contains("SIZE=always|inherit|madvise|never", run.Output, System.StringComparison.Ordinal);
        Assert.Contains("[default: 256M]", run.Output, System.StringComparison.Ordinal);
    }
}
