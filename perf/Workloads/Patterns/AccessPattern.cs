using System;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.Workloads.Patterns;

/// <summary>
/// What a workload's threads do to their slices of the region, one iteration at a time. Every
/// pattern reports its progress in pages of the slice covered, so one iteration of a slice is
/// always <see cref="WorkloadSlice.Pages"/> units.
/// </summary>
internal abstract class AccessPattern
{
    /// <summary>The pattern for <paramref name="options"/>.</summary>
    public static AccessPattern For(WorkloadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Kind switch
        {
            WorkloadKind.Sequential => new SequentialPattern(),
            WorkloadKind.Random => new RandomPattern(),
            WorkloadKind.Strided => new StridedPattern(options.StrideBytes),
            WorkloadKind.Sparse => new SparsePattern(),
            WorkloadKind.Mix => new MixPattern(),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "No such workload."),
        };
    }

    /// <summary>One iteration over one slice, on the slice's own thread.</summary>
    public abstract void Run(WorkloadSlice slice);

    /// <summary>After every thread has finished an iteration, on the runner's thread.</summary>
    public virtual void EndIteration(Machine machine)
    {
    }
}
