using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;

namespace LargeFolios.Folios.Workloads;

/// <summary>
/// <c>--validate</c> found a broken invariant after a run: the model is wrong, not the options.
/// The message names the policy and what the validator found; <see cref="Exception.InnerException"/>
/// is the validator's own exception.
/// </summary>
internal sealed class WorkloadInvariantException : Exception
{
    public WorkloadInvariantException(string policy, Exception broken)
        : base($"--validate: under policy {policy}, the machine broke an invariant: {broken.Message.ReplaceLineEndings(" ")}", broken)
    {
        Policy = policy;
    }

    /// <summary>The policy of the run that broke it.</summary>
    public string Policy { get; }

    /// <summary>Whether <paramref name="e"/> is what a validator throws for a broken invariant, at any layer.</summary>
    public static bool IsBrokenInvariant(Exception e) =>
        e is FaultPathCorruptionException or ArenaCorruptionException or PageTableCorruptionException or VmaCorruptionException;
}
