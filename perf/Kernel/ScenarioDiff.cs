using System;
using System.IO;
using System.Text.RegularExpressions;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.Kernel;

/// <summary>
/// Runs a scenario on the model and on the running kernel and compares what they print and how they
/// end (<see cref="ScenarioReplayResult"/>: exit status, the failing line and what failed it; the
/// messages' wording is each side's own). The kernel's counters are system-wide, so a difference in
/// <c>stats</c> lines alone is run again on the kernel (<see cref="StatsRetries"/> times) before it
/// counts: one agreeing run settles it.
/// </summary>
internal sealed partial class ScenarioDiff(KernelScenarioRunner kernel)
{
    /// <summary>How many more kernel runs a difference in stats alone gets.</summary>
    public const int StatsRetries = 2;

    /// <summary>Compares one scenario file.</summary>
    public ScenarioComparison Compare(string path)
    {
        var modelOutput = new StringWriter { NewLine = "\n" };
        ScenarioReplayResult model = ScenarioRunner.ReplayFile(path, modelOutput);
        string[] modelLines = Lines(modelOutput.ToString());

        ScenarioComparison comparison;
        string? firstKernelOutput = null;
        bool unrepeatable = false;
        int attempt = 0;
        do
        {
            var kernelOutput = new StringWriter { NewLine = "\n" };
            ScenarioReplayResult kernelResult = kernel.Replay(path, kernelOutput, TextWriter.Null);
            string text = kernelOutput.ToString();
            firstKernelOutput ??= text;
            unrepeatable |= text != firstKernelOutput;
            comparison = CompareRuns(path, model, modelLines, Lines(text), kernelResult, attempt);
        }
        while (comparison.StatsOnly && attempt++ < StatsRetries);

        return unrepeatable && comparison.StatsOnly ? comparison with { KernelUnrepeatable = true } : comparison;
    }

    /// <summary>Compares two runs' output lines and outcomes.</summary>
    public static ScenarioComparison CompareRuns(string path, ScenarioReplayResult model, string[] modelLines, string[] kernelLines, ScenarioReplayResult kernel, int reruns)
    {
        int count = Math.Max(modelLines.Length, kernelLines.Length);
        int first = -1;
        bool statsOnly = true;
        for (int i = 0; i < count; i++)
        {
            string? m = i < modelLines.Length ? modelLines[i] : null;
            string? k = i < kernelLines.Length ? kernelLines[i] : null;
            if (m == k)
                continue;
            if (first < 0)
                first = i;
            if (!(m == null || IsStatsLine(m)) || !(k == null || IsStatsLine(k)))
                statsOnly = false;
        }

        bool sameEnd = model.ExitStatus == kernel.ExitStatus && model.Failure == kernel.Failure && model.FailedLine == kernel.FailedLine;
        if (first < 0 && sameEnd)
            return new ScenarioComparison(path, true, false, -1, null, null, model, kernel, reruns, modelLines.Length);
        return new ScenarioComparison(
            path,
            false,
            first >= 0 && statsOnly && sameEnd,
            first,
            first >= 0 && first < modelLines.Length ? modelLines[first] : null,
            first >= 0 && first < kernelLines.Length ? kernelLines[first] : null,
            model,
            kernel,
            reruns,
            modelLines.Length);
    }

    /// <summary>A line <c>stats</c> prints: <c>64kB anon_fault_alloc 3</c>.</summary>
    public static bool IsStatsLine(string line) => StatsLine().IsMatch(line);

    private static string[] Lines(string text) =>
        text.Length == 0 ? [] : text.TrimEnd('\n').Split('\n');

    [GeneratedRegex(@"^\d+kB [a-z_]+ -?\d+$", RegexOptions.CultureInvariant)]
    private static partial Regex StatsLine();
}

/// <summary>One scenario compared on the model and the kernel.</summary>
/// <param name="Path">The scenario file.</param>
/// <param name="Same">Both printed the same lines and ended the same way.</param>
/// <param name="StatsOnly">They differ in <c>stats</c> lines alone (system-wide counters: other processes may have moved them).</param>
/// <param name="FirstDifference">The first output line (from 0) that differs; -1 when only the ending differs.</param>
/// <param name="ModelLine">That line as the model printed it; null when the model's output ended before.</param>
/// <param name="KernelLine">That line as the kernel printed it; null when the kernel's output ended before.</param>
/// <param name="Model">How the model's run ended.</param>
/// <param name="Kernel">How the kernel's run ended.</param>
/// <param name="Reruns">Kernel runs beyond the first (a stats-only difference is run again).</param>
/// <param name="OutputLines">Lines the model printed.</param>
/// <remarks>
/// <see cref="KernelUnrepeatable"/>: a stats-only difference where the kernel's own runs printed
/// different counters: other processes' faults moved the system-wide counters, so the kernel has
/// no single answer to compare with (run it again on a quiet machine).
/// </remarks>
internal sealed record ScenarioComparison(
    string Path,
    bool Same,
    bool StatsOnly,
    int FirstDifference,
    string? ModelLine,
    string? KernelLine,
    ScenarioReplayResult Model,
    ScenarioReplayResult Kernel,
    int Reruns,
    int OutputLines)
{
    /// <summary>The kernel's runs disagreed with each other in <c>stats</c> (see remarks).</summary>
    public bool KernelUnrepeatable { get; init; }

    /// <summary>One line for the report: "same", or where and how they differ.</summary>
    public string Describe()
    {
        if (Same)
            return $"{Path}: same ({OutputLines} output line{(OutputLines == 1 ? "" : "s")}, {Ending(Model)}{(Reruns > 0 ? $", after {Reruns} kernel re-run{(Reruns == 1 ? "" : "s")} for stats" : "")})";
        if (FirstDifference >= 0)
        {
            return $"{Path}: differs at output line {FirstDifference + 1}: model {Shown(ModelLine)}, kernel {Shown(KernelLine)}" +
                (KernelUnrepeatable ? $" (stats only, and the kernel's {Reruns + 1} runs printed different counters: a busy machine; run it again on a quiet one)"
                    : StatsOnly ? $" (stats only, in {Reruns + 1} kernel runs)" : "");
        }

        return $"{Path}: differs in how it ended: model {Ending(Model)}, kernel {Ending(Kernel)}";
    }

    private static string Ending(ScenarioReplayResult result) => result.ExitStatus == 0
        ? "exit 0"
        : $"exit {result.ExitStatus} ({result.Failure} at line {result.FailedLine})";

    private static string Shown(string? line) => line == null ? "(nothing)" : $"\"{line}\"";
}
