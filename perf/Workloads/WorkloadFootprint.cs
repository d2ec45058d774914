using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.Folios.Cli;
using LargeFolios.PageTables;

namespace LargeFolios.Folios.Workloads;

/// <summary>
/// The most host memory a workload run takes, worked out from its options before anything is
/// allocated: what the arena charges when created (64 bytes of descriptor per page, the per-CPU
/// sets, the memory itself unless metadata-only), the page-content bits of a metadata-only
/// machine (a bit per page), and the side pages of its page tables (4 KiB per table, in 2 MiB
/// chunks; at most a table per 2 MiB of the region, and never more than the arena has pages).
/// </summary>
/// <param name="ArenaBytes">What the arena charges at creation.</param>
/// <param name="ContentBytes">The machine's page-content bits.</param>
/// <param name="TableBytes">Page-table side pages.</param>
internal readonly record struct WorkloadFootprint(long ArenaBytes, long ContentBytes, long TableBytes)
{
    /// <summary>The whole footprint.</summary>
    public long TotalBytes => ArenaBytes + ContentBytes + TableBytes;

    /// <summary>The footprint of a run of <paramref name="options"/> (checked options).</summary>
    public static WorkloadFootprint For(WorkloadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        long arenaBytes = options.EffectiveArenaBytes;
        long arena = Arena.HostBytesFor(arenaBytes, new ArenaOptions { MetadataOnly = options.MetadataOnly });
        if (!options.MetadataOnly)
            return new WorkloadFootprint(arena, 0, 0);

        long pages = arenaBytes >> PageGeometry.PageShift;
        long contents = (pages + 63) / 64 * sizeof(ulong);
        long tables = Math.Min(PageTableTree.MaxTablesFor(WorkloadOptions.RegionBase, (ulong)options.SizeBytes), pages);
        long chunks = ((tables << PageGeometry.PageShift) + SidePageChunk - 1) / SidePageChunk;
        return new WorkloadFootprint(arena, contents, chunks * SidePageChunk);
    }

    /// <summary>"20.0G of host memory (18.0G of page descriptors, 36.0M of page-content bits, 2054M of page-table side pages)".</summary>
    public string Describe(bool metadataOnly) =>
        $"{ByteSize.FormatRounded(TotalBytes)} of host memory ({ByteSize.FormatRounded(ArenaBytes)} of {(metadataOnly ? "page descriptors" : "memory and page descriptors")}" +
        (metadataOnly ? $", {ByteSize.FormatRounded(ContentBytes)} of page-content bits, {ByteSize.FormatRounded(TableBytes)} of page-table side pages)" : ")");

    // The side-page pool maps and charges 2 MiB at a time.
    private const long SidePageChunk = 2L << 20;
}
