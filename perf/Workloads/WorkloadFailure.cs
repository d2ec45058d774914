namespace LargeFolios.Folios.Workloads;

/// <summary>Where and why a workload thread stopped early.</summary>
/// <param name="Outcome">SIGSEGV or OOM.</param>
/// <param name="Thread">The thread's index (0-based).</param>
/// <param name="Iteration">The iteration it was in (0-based).</param>
/// <param name="Address">The address it was touching or advising.</param>
/// <param name="Message">The fault path's own words.</param>
internal sealed record WorkloadFailure(WorkloadOutcome Outcome, int Thread, int Iteration, ulong Address, string Message)
{
    /// <summary>One line for a report cell: <c>OOM at 0x700012345000</c>.</summary>
    public string Summary => $"{(Outcome == WorkloadOutcome.OutOfMemory ? "OOM" : "SIGSEGV")} at 0x{Address:x}";
}
