using LargeFolios.FaultPath;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// Large folios broken up: splits done (uniformly, or non-uniformly around one page as Linux
/// 6.15's folio_split does), splits refused and why, and the deferred-split queue that holds
/// partially mapped folios until the shrinker splits them.
/// </summary>
internal sealed class SplitStats
{
    /// <summary>Folio splits, by old and new order (for a non-uniform split, the smallest new order) (FolioSplit).</summary>
    public Tally<(int OldOrder, int NewOrder)> ByOrders { get; } = new();

    /// <summary>Splits into folios all of the new order.</summary>
    public long Uniform { get; set; }

    /// <summary>Splits around one page, into folios of falling orders.</summary>
    public long NonUniform { get; set; }

    /// <summary>Folios the splits produced.</summary>
    public long FoliosProduced { get; set; }

    /// <summary>Splits of mapped folios the fault path refused, by reason (its FolioSplitRefused).</summary>
    public Tally<FolioSplitRefusal> Refusals { get; } = new();

    /// <summary>
    /// Splits the arena itself refused (the allocator's FolioSplitRefused): an anonymous folio to
    /// order 1, whose deferred-split list would live in the next folio's head. The fault path
    /// refuses that order before it asks, so these come from callers of the arena's own split.
    /// </summary>
    public long ArenaOrderOneRefusals { get; set; }

    /// <summary>Every refusal, the fault path's and the arena's.</summary>
    public long RefusalsTotal => Refusals.Total + ArenaOrderOneRefusals;

    /// <summary>Folios queued for deferred split (DeferredSplitQueued).</summary>
    public long DeferredQueued { get; set; }

    /// <summary>Of those, queued because they are partially mapped.</summary>
    public long DeferredQueuedPartiallyMapped { get; set; }

    /// <summary>Runs of the deferred-split shrinker (DeferredSplitScan).</summary>
    public long DeferredScans { get; set; }

    /// <summary>Folios the shrinker took off the queue, over every run.</summary>
    public long DeferredScanned { get; set; }

    /// <summary>Folios the shrinker split, over every run.</summary>
    public long DeferredSplit { get; set; }

    /// <summary>Folios the shrinker put back, over every run.</summary>
    public long DeferredRequeued { get; set; }

    /// <summary>The queue's length after the last run; -1 before any.</summary>
    public long DeferredQueueLength { get; set; } = -1;
}
