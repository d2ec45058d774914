using System;
using System.IO;
using System.Linq;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Replays every scenario under Scenarios/ and compares what it prints with the .expected file
/// beside it (derived from the Linux 6.18 source; see Scenarios/DERIVATION.md). Every invariant of
/// the machine is checked after every command.
/// </summary>
public sealed class ScenarioReplayTests
{
    private static readonly string Directory = Path.Combine(AppContext.BaseDirectory, "Scenarios");

    public static TheoryData<string> Scenarios()
    {
        var data = new TheoryData<string>();
        foreach (string path in System.IO.Directory.GetFiles(Directory, "*.scenario").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileNameWithoutExtension(path));
        return data;
    }

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Replay_prints_what_Linux_prints(string name)
    {
        string path = Path.Combine(Directory, name + ".scenario");
        string expected = File.ReadAllText(Path.Combine(Directory, name + ".expected"));
        var output = new StringWriter { NewLine = "\n" };
        using (var runner = new ScenarioRunner(output, arenaBytes: 1L << 30))
        {
            foreach (ScenarioCommand command in ScenarioReader.ReadFile(path))
            {
                runner.Execute(command, path);
                runner.Machine.Validate();
            }
        }

        Assert.Equal(expected, output.ToString());
    }

    [Fact]
    public void Every_scenario_has_an_expected_output()
    {
        string[] scenarios = System.IO.Directory.GetFiles(Directory, "*.scenario");
        Assert.True(scenarios.Length >= 20, $"only {scenarios.Length} scenarios found in {Directory}");
        foreach (string scenario in scenarios)
            Assert.True(File.Exists(Path.ChangeExtension(scenario, ".expected")), $"{scenario} has no .expected file");
    }
}
