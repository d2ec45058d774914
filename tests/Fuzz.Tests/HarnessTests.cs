using System;
using System.IO;
using System.Linq;
using LargeFolios.Fuzz.Engine;
using LargeFolios.Fuzz.Targets;
using Xunit;

namespace LargeFolios.Fuzz.Tests;

/// <summary>
/// The harness on the real targets: the corpus and a few hundred mutants with a fixed seed (so
/// the same inputs every run), and the regression inputs of fuzz/regressions (each a finding
/// once, minimised). A failure lists each distinct finding with its input; replay one with
/// <c>dotnet run --project fuzz/Folios.Fuzz -c Release -- repro TARGET FILE</c>.
/// </summary>
public class HarnessTests
{
    private const int Mutants = 300;
    private const int Seed = 20261203;

    [Theory]
    [InlineData("scenario")]
    [InlineData("trace")]
    [InlineData("cli")]
    public void The_corpus_and_its_mutants_break_no_check(string name)
    {
        IFuzzTarget target = FuzzTargets.Create(name);
        try
        {
            FuzzReport report = InProcessEngine.Run(target, new FuzzOptions
            {
                Seed = Seed,
                Runs = Mutants,
                Timeout = TimeSpan.FromSeconds(20),
                StopOnFirstFinding = false,
                Minimize = false,
            });

            Assert.True(report.Seeds > 0, $"no corpus for {name} beside the harness");
            Assert.True(report.Findings.Count == 0, Describe(report.Findings));
            Assert.Equal(report.Seeds + Mutants, report.Executions);
        }
        finally
        {
            (target as IDisposable)?.Dispose();
        }
    }

    [Theory]
    [InlineData("scenario")]
    [InlineData("trace")]
    [InlineData("cli")]
    public void The_regression_inputs_break_no_check(string name)
    {
        string folder = Path.Combine(FuzzTargets.DataDirectory, "regressions", name);
        string[] files = Directory.Exists(folder)
            ? Directory.GetFiles(folder).Where(f => Path.GetFileName(f) != "README.md").Order(StringComparer.Ordinal).ToArray()
            : [];
        IFuzzTarget target = FuzzTargets.Create(name);
        try
        {
            var results = InProcessEngine.Replay(target, files.Select(File.ReadAllBytes), TimeSpan.FromSeconds(20), 1L << 30);
            var failed = files.Zip(results).Where(r => r.Second.Finding is not null).ToList();
            Assert.True(failed.Count == 0, string.Join(Environment.NewLine, failed.Select(f => $"{Path.GetFileName(f.First)}:{Environment.NewLine}{f.Second.Finding!.Describe()}")));
        }
        finally
        {
            (target as IDisposable)?.Dispose();
        }
    }

    private static string Describe(System.Collections.Generic.IReadOnlyList<Finding> findings) =>
        $"{findings.Count} distinct finding(s):{Environment.NewLine}" + string.Join(Environment.NewLine, findings.Select(f =>
            f.Describe() + $"input (escaped): {TextChecks.Excerpt(System.Text.Encoding.UTF8.GetString(f.Input), 0, 200)}{Environment.NewLine}"));
}
