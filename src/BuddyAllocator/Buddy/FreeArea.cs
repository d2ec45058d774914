namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The free blocks of one order in the buddy core (Linux <c>struct free_area</c>, with a single
/// migratetype): their list and how many there are.
/// </summary>
/// <remarks>Invariant: <c>NrFree</c> == length of <c>List</c>; every PFN on it is a buddy head of this order.</remarks>
internal struct FreeArea
{
    public PfnList List;
    public long NrFree;
}

/// <summary>Inline storage for one <see cref="FreeArea"/> per order 0..<see cref="PageGeometry.MaxSupportedOrder"/>.</summary>
[System.Runtime.CompilerServices.InlineArray(PageGeometry.MaxSupportedOrder + 1)]
internal struct FreeAreaArray
{
    private FreeArea _element0;
}
