namespace LargeFolios.Folios.Cli;

/// <summary>The tool's exit statuses (replay's 0/1/2 are these too).</summary>
internal static class ExitCodes
{
    /// <summary>Done; a workload that ran out of memory or faulted is still a result.</summary>
    public const int Success = 0;

    /// <summary>The job itself failed: a replayed command the kernel would refuse, a broken invariant.</summary>
    public const int Failure = 1;

    /// <summary>The command line (or a scenario file) is malformed; nothing ran.</summary>
    public const int Usage = 2;
}
