using LargeFolios.BuddyAllocator;

namespace LargeFolios.Folios.Workloads.Patterns;

/// <summary>
/// A store to the first page of every stride: with folios larger than the stride every store
/// after the first in a folio is free; with folios smaller, memory is written 4 KiB in a stride
/// and the rest of each folio is bloat.
/// </summary>
internal sealed class StridedPattern : AccessPattern
{
    private readonly long _stridePages;

    /// <summary>Creates the pattern with <paramref name="strideBytes"/> (whole pages) between stores.</summary>
    public StridedPattern(long strideBytes) => _stridePages = strideBytes >> PageGeometry.PageShift;

    /// <inheritdoc/>
    public override void Run(WorkloadSlice slice)
    {
        for (long page = 0; page < slice.Pages; page += _stridePages)
        {
            slice.Store(slice.PageAddress(page));
            slice.Advance(System.Math.Min(_stridePages, slice.Pages - page));
        }
    }
}
