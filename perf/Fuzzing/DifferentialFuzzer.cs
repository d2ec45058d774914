using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Kernel;

namespace LargeFolios.Folios.Fuzzing;

/// <summary>
/// <c>folios fuzz</c>: random scenarios (<see cref="ScenarioGenerator"/>) run on the model and on the
/// running kernel (<see cref="ScenarioDiff"/>); each disagreement is reduced to a short scenario
/// (<see cref="ScenarioReducer"/>) and written to the output folder with both sides' answers in its
/// comments.
/// </summary>
internal sealed class DifferentialFuzzer(KernelScenarioRunner kernel, string outputDirectory, TextWriter log, string? corpusDirectory = null)
{
    private readonly ScenarioDiff _diff = new(kernel);
    private readonly string _scratch = Path.Combine(Path.GetTempPath(), $"folios-fuzz-{Environment.ProcessId}");

    /// <summary>Runs <paramref name="count"/> scenarios from seed <paramref name="seed"/> on.</summary>
    /// <returns>How many disagreed.</returns>
    public FuzzSummary Run(int count, int seed)
    {
        Directory.CreateDirectory(_scratch);
        try
        {
            int differing = 0;
            int modelCannot = 0;
            int kernelCannot = 0;
            int noise = 0;
            int unsettled = 0;
            var endings = new int[3];
            var endedBy = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < count; i++)
            {
                int scenarioSeed = unchecked(seed + i);
                IReadOnlyList<string> lines = ScenarioGenerator.Generate(scenarioSeed);
                if (corpusDirectory != null)
                {
                    Directory.CreateDirectory(corpusDirectory);
                    File.WriteAllLines(Path.Combine(corpusDirectory, $"seed-{scenarioSeed.ToString(CultureInfo.InvariantCulture)}.scenario"), lines);
                }

                ScenarioComparison comparison = Compare(lines, "scenario");
                endings[Math.Clamp(comparison.Kernel.ExitStatus, 0, 2)]++;
                if (comparison.Kernel.ExitStatus == 1 && EndingOf(lines, comparison.Kernel) is { } ending)
                    endedBy[ending] = endedBy.GetValueOrDefault(ending) + 1;
                if (comparison.Same)
                    continue;
                if (IsKernelSideLimit(comparison))
                {
                    kernelCannot++;
                    continue;
                }

                // The kernel's counters are the machine's: another process's faults can move them.
                // A difference that is gone when the scenario runs again was that, not the model.
                if (comparison.StatsOnly)
                {
                    ScenarioComparison again = comparison.KernelUnrepeatable ? comparison : Compare(lines, "scenario");
                    if (again.Same)
                    {
                        noise++;
                        continue;
                    }

                    // The kernel's own runs printed different counters: no answer to hold the model to.
                    if (again.KernelUnrepeatable)
                    {
                        unsettled++;
                        string kept = Keep(scenarioSeed, lines, again);
                        log.WriteLine($"seed {scenarioSeed}: unsettled: {Describe(again)} -> {kept}");
                        continue;
                    }
                }

                if (IsModelLimit(comparison))
                    modelCannot++;
                differing++;
                string written = Report(scenarioSeed, lines, comparison);
                log.WriteLine($"seed {scenarioSeed}: {Describe(comparison)} -> {written}");
            }

            return new FuzzSummary(count, differing, modelCannot, kernelCannot, endings[0], endings[1], endings[2], noise, unsettled, endedBy);
        }
        finally
        {
            try
            {
                Directory.Delete(_scratch, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>What ended a kernel run, by command: "madvise collapse: EINVAL", "write: SIGSEGV".</summary>
    private static string? EndingOf(IReadOnlyList<string> lines, ScenarioReplayResult result)
    {
        if (result.FailedLine < 1 || result.FailedLine > lines.Count || result.Failure is null)
            return null;
        string[] words = lines[result.FailedLine - 1].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0)
            return null;
        string command = words[0] == "madvise" && words.Length >= 4 ? $"madvise {words[3]}" : words[0];
        return $"{command}: {result.Failure}";
    }

    /// <summary>The kernel side could not run the scenario (the helper's own memory in the way, a range too big for this machine): no verdict.</summary>
    private static bool IsKernelSideLimit(ScenarioComparison comparison) =>
        comparison.Kernel.ExitStatus == 2 && comparison.Kernel.FailedLine == 0 && comparison.Model.ExitStatus != 2;

    private static bool IsModelLimit(ScenarioComparison comparison) =>
        comparison.Model.ExitStatus == 2 && comparison.Kernel.ExitStatus != 2;

    private ScenarioComparison Compare(IReadOnlyList<string> lines, string name)
    {
        string path = Path.Combine(_scratch, name + ".scenario");
        File.WriteAllLines(path, lines);
        return _diff.Compare(path);
    }

    /// <summary>Writes an unsettled scenario as generated (no reduction: each step would need quiet counters), to run again later.</summary>
    private string Keep(int seed, IReadOnlyList<string> lines, ScenarioComparison found)
    {
        string folder = Path.Combine(outputDirectory, "unsettled");
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, $"fuzz-{seed.ToString(CultureInfo.InvariantCulture)}.scenario");
        var text = new StringBuilder();
        text.Append("# folios fuzz --seed ").Append(seed).Append(" --count 1: the kernel's counters changed run to run; replay --diff it on a quiet machine\n");
        text.Append("# ").Append(Describe(found)).Append('\n');
        foreach (string line in lines)
            text.Append(line).Append('\n');
        File.WriteAllText(file, text.ToString());
        return file;
    }

    private string Report(int seed, IReadOnlyList<string> lines, ScenarioComparison found)
    {
        string signature = Signature(found);
        IReadOnlyList<string> reduced = ScenarioReducer.Reduce(lines, candidate =>
        {
            ScenarioComparison comparison = Compare(candidate, "candidate");
            return !comparison.Same && !IsKernelSideLimit(comparison) && Signature(comparison) == signature;
        });
        ScenarioComparison final = Compare(reduced, "reduced");
        Directory.CreateDirectory(outputDirectory);
        string file = Path.Combine(outputDirectory, $"fuzz-{seed.ToString(CultureInfo.InvariantCulture)}.scenario");
        var text = new StringBuilder();
        text.Append("# folios fuzz --seed ").Append(seed).Append(" --count 1, reduced from ").Append(lines.Count).Append(" lines\n");
        text.Append("# ").Append(Describe(final)).Append('\n');
        if (final.Model.Error is { } modelError)
            text.Append("# model: ").Append(modelError).Append('\n');
        if (final.Kernel.Error is { } kernelError)
            text.Append("# kernel: ").Append(kernelError).Append('\n');
        foreach (string line in reduced)
            text.Append(line).Append('\n');
        File.WriteAllText(file, text.ToString());
        return file;
    }

    /// <summary>What kind of disagreement: outcomes, or an output line's kind (a dump run or a stats counter), so a reduction keeps to it.</summary>
    private static string Signature(ScenarioComparison comparison)
    {
        if (comparison.FirstDifference < 0)
            return $"end:{comparison.Model.ExitStatus}/{comparison.Model.Failure}:{comparison.Kernel.ExitStatus}/{comparison.Kernel.Failure}";
        string line = comparison.ModelLine ?? comparison.KernelLine ?? "";
        return ScenarioDiff.IsStatsLine(line) ? "stats:" + line.Split(' ')[1] : comparison.StatsOnly ? "stats" : "output";
    }

    private static string Describe(ScenarioComparison comparison)
    {
        string text = comparison.Describe();
        int colon = text.IndexOf(": ", StringComparison.Ordinal);
        return colon >= 0 ? text[(colon + 2)..] : text;
    }
}

/// <summary>A fuzz run's counts.</summary>
/// <param name="Scenarios">Scenarios generated.</param>
/// <param name="Differing">Scenarios model and kernel disagreed on.</param>
/// <param name="ModelCannot">Of those, scenarios the model ended with exit 2 where the kernel did not (the host-memory bound, a SIMD path the environment forces).</param>
/// <param name="KernelCannot">Scenarios the kernel side could not run here (no verdict; not counted as differing).</param>
/// <param name="RanToTheEnd">Scenarios whose every line ran on the kernel (exit 0).</param>
/// <param name="EndedByFailure">Scenarios a refused syscall or a SIGSEGV ended on the kernel (exit 1): the lines after it did not run.</param>
/// <param name="EndedMalformed">Scenarios that ended with exit 2 on the kernel.</param>
/// <param name="Noise">Scenarios whose stats differed, but not when run again: other processes' faults moved the machine's counters (agreeing, not counted as differing).</param>
/// <param name="Unsettled">Scenarios that differed in stats alone while the kernel's own runs printed different counters (a busy machine): neither agreeing nor differing; written to DIR/unsettled.</param>
/// <param name="EndedBy">The kernel runs ended by a failure, by what ended them ("mremap: EFAULT").</param>
internal sealed record FuzzSummary(int Scenarios, int Differing, int ModelCannot, int KernelCannot, int RanToTheEnd, int EndedByFailure, int EndedMalformed, int Noise, int Unsettled, IReadOnlyDictionary<string, int> EndedBy);
