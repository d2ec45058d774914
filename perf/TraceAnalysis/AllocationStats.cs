namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// The buddy allocator's side of a trace: folios handed out and freed per order, allocations that
/// found no block, and the buddy core's block splits and merges behind them.
/// </summary>
internal sealed class AllocationStats
{
    /// <summary>Folios allocated, per order (FolioAllocated).</summary>
    public Tally<int> AllocatedByOrder { get; } = new();

    /// <summary>Folios freed, per order (FolioFreed).</summary>
    public Tally<int> FreedByOrder { get; } = new();

    /// <summary>Allocations that found no free block even after draining the per-CPU caches, per order (AllocationFailed).</summary>
    public Tally<int> FailedByOrder { get; } = new();

    /// <summary>Free blocks the buddy core split to hand out a smaller one (BuddyBlockSplit).</summary>
    public long BlockSplits { get; set; }

    /// <summary>Freed blocks that merged with their buddies (BuddyBlockMerged).</summary>
    public long BlockMerges { get; set; }

    /// <summary>Folios allocated over the trace's time, per order.</summary>
    public OrderTimeline Timeline { get; } = new();
}
