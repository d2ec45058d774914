using System;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.Folios.Workloads.Patterns;

/// <summary>
/// In every 2 MiB of the slice, a load of its first page, then stores to 1/64 of its pages (8) at
/// random: a sparse table read before it is filled. The load maps the huge zero page where a PMD
/// THP is allowed (and the store then replaces it with a THP), else a 4 KiB zero page whose PTE
/// keeps the faults around it below the orders whose range it falls in.
/// </summary>
internal sealed class SparsePattern : AccessPattern
{
    /// <summary>Pages per chunk: one PMD.</summary>
    public const long ChunkPages = 1 << PageGeometry.PmdOrder;

    /// <summary>One store per this many pages of a chunk.</summary>
    public const long PagesPerStore = 64;

    /// <inheritdoc/>
    public override void Run(WorkloadSlice slice)
    {
        for (long chunk = 0; chunk < slice.Pages; chunk += ChunkPages)
        {
            long pages = Math.Min(ChunkPages, slice.Pages - chunk);
            slice.Load(slice.PageAddress(chunk));
            for (long i = Math.Max(1, pages / PagesPerStore); i > 0; i--)
                slice.Store(slice.PageAddress(chunk + slice.Random.NextInt64(pages)));
            slice.Advance(pages);
        }
    }
}
