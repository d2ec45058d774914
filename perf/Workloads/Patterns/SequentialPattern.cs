namespace LargeFolios.Folios.Workloads.Patterns;

/// <summary>A store to every page in address order: each fault maps the largest folio the policy allows, and the next stores find it mapped.</summary>
internal sealed class SequentialPattern : AccessPattern
{
    /// <inheritdoc/>
    public override void Run(WorkloadSlice slice)
    {
        for (long page = 0; page < slice.Pages; page++)
        {
            slice.Store(slice.PageAddress(page));
            slice.Advance(1);
        }
    }
}
