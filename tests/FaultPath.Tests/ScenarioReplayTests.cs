using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Replays every scenario under Scenarios/ and its subfolders (Scenarios/selftests/ holds the ports of
/// the kernel's mm selftests) and compares what it prints with the .expected file beside it (derived
/// from the Linux 6.18 source and checked on the running kernel; see Scenarios/DERIVATION.md). Every
/// invariant of the machine is checked after every command.
/// </summary>
public sealed class ScenarioReplayTests
{
    private static readonly string Directory = Path.Combine(AppContext.BaseDirectory, "Scenarios");

    /// <summary>
    /// Every scenario's name without the extension, relative to Scenarios/ with '/' between folders:
    /// "01-design-example" at the top, "selftests/cow-..." in the subfolder.
    /// </summary>
    public static TheoryData<string> Scenarios()
    {
        var data = new TheoryData<string>();
        foreach (string name in ScenarioNames(Directory))
            data.Add(name);
        return data;
    }

    internal static string[] ScenarioNames(string directory) =>
        System.IO.Directory.GetFiles(directory, "*.scenario", SearchOption.AllDirectories)
            .Select(path => Path.ChangeExtension(Path.GetRelativePath(directory, path), null).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal)
            .ToArray();

    /// <summary>
    /// Replays the scenario command by command, checking the machine after each, and compares the
    /// output with the .expected file. A scenario that ends in a failure says so in its first line,
    /// <c># outcome: ERRNO at line N</c> (or SIGSEGV): the run must end there, with that, and print what
    /// the .expected file holds up to it.
    /// </summary>
    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Replay_prints_what_Linux_prints(string name)
    {
        string path = Path.Combine(Directory, name + ".scenario");
        string expected = File.ReadAllText(Path.Combine(Directory, name + ".expected"));
        (string Failure, int Line)? outcome = ExpectedOutcome(path);
        var output = new StringWriter { NewLine = "\n" };
        ScenarioExecutionException? failed = null;
        using (var runner = new ScenarioRunner(output, arenaBytes: 1L << 30))
        {
            try
            {
                foreach (ScenarioCommand command in ScenarioReader.ReadFile(path))
                {
                    runner.Execute(command, path);
                    runner.Machine.Validate();
                }
            }
            catch (ScenarioExecutionException error)
            {
                failed = error;
                runner.Machine.Validate();   // a refused command changed nothing it should not have
            }
        }

        Assert.Equal(expected, output.ToString());
        Assert.Equal(outcome, failed is null ? null : (failed.Failure, failed.Line));
    }

    /// <summary>The <c># outcome: NAME at line N</c> directive of a scenario's first line, if it has one.</summary>
    private static (string Failure, int Line)? ExpectedOutcome(string path)
    {
        string first = File.ReadLines(path).First();
        Match match = Regex.Match(first, @"^# outcome: ([A-Z]+) at line (\d+)$");
        return match.Success ? (match.Groups[1].Value, int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)) : null;
    }

    [Fact]
    public void Every_scenario_has_an_expected_output()
    {
        string[] scenarios = System.IO.Directory.GetFiles(Directory, "*.scenario", SearchOption.AllDirectories);
        Assert.True(scenarios.Length >= 20, $"only {scenarios.Length} scenarios found in {Directory}");
        foreach (string scenario in scenarios)
            Assert.True(File.Exists(Path.ChangeExtension(scenario, ".expected")), $"{scenario} has no .expected file");
    }

    [Fact]
    public void The_selftest_ports_in_the_subfolder_are_found_with_their_folder_in_the_name()
    {
        string[] names = ScenarioNames(Directory);
        Assert.Contains("01-design-example", names);
        Assert.Contains(names, name => name.StartsWith("selftests/cow-", StringComparison.Ordinal));
        Assert.DoesNotContain(names, name => name.Contains('\\', StringComparison.Ordinal) || name.EndsWith(".scenario", StringComparison.Ordinal));
    }
}
