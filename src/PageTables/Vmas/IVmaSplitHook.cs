namespace LargeFolios.PageTables;

/// <summary>
/// Told of every VMA split before it happens, so the layer that owns the page tables can split a
/// PMD leaf across the new boundary (Linux <c>__split_vma</c> calls <c>vma_adjust_trans_huge</c>):
/// a struct, so the set's mutators are specialised for it and a no-op hook costs nothing.
/// </summary>
public interface IVmaSplitHook
{
    /// <summary><paramref name="vma"/> is about to be split at <paramref name="address"/>; nothing has changed yet.</summary>
    void BeforeSplit(in Vma vma, ulong address);
}

/// <summary>A split hook that does nothing: for a set whose page tables nobody maps yet.</summary>
public readonly struct NoVmaSplitHook : IVmaSplitHook
{
    /// <inheritdoc/>
    public void BeforeSplit(in Vma vma, ulong address)
    {
    }
}
