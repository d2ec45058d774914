namespace LargeFolios.FaultPath;

/// <summary>
/// How a scenario run ended (docs/scenario-format.md, "Errors"), on the model or on the kernel: the
/// exit status, the error line printed, the line that failed, and what failed it as a name both
/// sides agree on (an errno's name such as <c>EINVAL</c>, <see cref="SegmentationFault"/>,
/// <see cref="OutOfMemory"/>, or <see cref="MalformedLine"/>), so two runs compare by outcome and
/// not by the wording of their messages.
/// </summary>
/// <param name="ExitStatus">0: every line ran; 1: a command failed; 2: a malformed line or a run that could not go on.</param>
/// <param name="Error">The one line printed on standard error; null on success.</param>
/// <param name="FailedLine">The scenario line that ended the run (0 when none, or before the first).</param>
/// <param name="Failure">What ended it; null on success.</param>
public sealed record ScenarioReplayResult(int ExitStatus, string? Error, int FailedLine, string? Failure)
{
    /// <summary>A load or store that got SIGSEGV.</summary>
    public const string SegmentationFault = "SIGSEGV";

    /// <summary>A fault with no memory left (the model's VM_FAULT_OOM; on the kernel, a process the OOM killer ended).</summary>
    public const string OutOfMemory = "OOM";

    /// <summary>A malformed line, an unreadable file, or a run that could not go on (exit status 2).</summary>
    public const string MalformedLine = "malformed";

    /// <summary>Every line ran.</summary>
    public static ScenarioReplayResult Success { get; } = new(0, null, 0, null);

    /// <summary>A command failed (exit status 1).</summary>
    public static ScenarioReplayResult Failed(string error, int line, string failure) => new(1, error, line, failure);

    /// <summary>A malformed line or a run that could not go on (exit status 2).</summary>
    public static ScenarioReplayResult Malformed(string error, int line) => new(2, error, line, MalformedLine);
}
