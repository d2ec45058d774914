namespace LargeFolios.Folios.Workloads.Patterns;

/// <summary>
/// As many stores as the slice has pages, each to a page drawn uniformly: about 1 - 1/e (63%) of
/// the pages are written, and every large folio a fault maps is memory the pattern may never use.
/// </summary>
internal sealed class RandomPattern : AccessPattern
{
    /// <inheritdoc/>
    public override void Run(WorkloadSlice slice)
    {
        for (long i = 0; i < slice.Pages; i++)
        {
            slice.Store(slice.PageAddress(slice.Random.NextInt64(slice.Pages)));
            slice.Advance(1);
        }
    }
}
