namespace LargeFolios.FaultPath;

/// <summary>What a split of a mapped folio did (Linux <c>__folio_split</c>'s return value, as an outcome).</summary>
/// <remarks>
/// <code>
/// outcome       Linux      when                                                  counted
/// Split         0          the folio is now folios of the new order, remapped    split (per old order)
/// InvalidOrder  -EINVAL    order 1 for anonymous memory, or not below the        nothing
///                          folio's order: refused before anything was tried
/// Busy          -EAGAIN    the folio lock is taken (by another split, the         nothing
///               or -EBUSY  shrinker, MADV_FREE)
///                          extra references, nothing maps it any more, no         split_failed
///                          memory for a PTE table, or the refcount freeze lost
///                          a race: everything is as it was
/// </code>
/// </remarks>
internal enum SplitOutcome : byte
{
    /// <summary>The folio was split and every piece remapped.</summary>
    Split,

    /// <summary>Refused before it started: order 1, or an order not below the folio's (-EINVAL).</summary>
    InvalidOrder,

    /// <summary>Not split now, nothing changed; the folio may be split later (-EAGAIN, -EBUSY).</summary>
    Busy,
}
