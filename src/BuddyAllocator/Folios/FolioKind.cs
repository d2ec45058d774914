namespace LargeFolios.BuddyAllocator;

/// <summary>What a folio is allocated for.</summary>
public enum FolioKind
{
    /// <summary>
    /// A plain block, as a kernel <c>alloc_pages(__GFP_COMP)</c> gives: compound from order 1 up,
    /// not rmappable, any order.
    /// </summary>
    Plain,

    /// <summary>
    /// Anonymous user memory: the mapping word is marked anonymous and, from order 2 up, page[1]
    /// is large-rmappable with an empty deferred-split list in page[2]. Order 1 is refused
    /// (<see cref="OrderOneFolioException"/>).
    /// </summary>
    Anonymous,
}
