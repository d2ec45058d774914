namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// How well the per-CPU caches absorbed the buddy core's traffic: the share of allocations a
/// per-CPU list served without a refill, the share of frees that stopped at one, and the bulk
/// refills and drains between them and the buddy core.
/// </summary>
internal sealed class PerCpuCacheStats
{
    /// <summary>Folio allocations, every one (FolioAllocated).</summary>
    public long Allocations { get; set; }

    /// <summary>Allocations a per-CPU list served without a refill (FolioAllocated fromPerCpuCache = 1).</summary>
    public long AllocationHits { get; set; }

    /// <summary>Folio frees, every one (FolioFreed).</summary>
    public long Frees { get; set; }

    /// <summary>Frees that joined a per-CPU list instead of the buddy core (FolioFreed toPerCpuCache = 1).</summary>
    public long FreeHits { get; set; }

    /// <summary>Refills of an empty per-CPU list (PerCpuRefill).</summary>
    public long Refills { get; set; }

    /// <summary>Blocks those refills took from the buddy core.</summary>
    public long RefilledBlocks { get; set; }

    /// <summary>Returns of pages to the buddy core (PerCpuDrain).</summary>
    public long Drains { get; set; }

    /// <summary>Pages those drains returned.</summary>
    public long DrainedPages { get; set; }

    /// <summary>The share of allocations served by a per-CPU list, 0..1; NaN without allocations.</summary>
    public double AllocationHitRate => Share(AllocationHits, Allocations);

    /// <summary>The share of frees kept in a per-CPU list, 0..1; NaN without frees.</summary>
    public double FreeHitRate => Share(FreeHits, Frees);

    private static double Share(long part, long whole) => whole == 0 ? double.NaN : (double)part / whole;
}
