namespace LargeFolios.FaultPath;

/// <summary>Why a folio split was refused (the fault path's <c>FolioSplitRefused</c> event's reason).</summary>
public enum FolioSplitRefusal
{
    /// <summary>The new order is 1 and the folio is anonymous, or the order is not below the folio's (Linux -EINVAL).</summary>
    InvalidOrder = 1,

    /// <summary>The folio has references beyond its mappings and the caller's (<c>can_split_folio</c> fails, -EAGAIN).</summary>
    ExtraReferences = 2,

    /// <summary>Nothing maps the folio any more (<c>folio_get_anon_vma</c> fails, -EBUSY).</summary>
    NotMapped = 3,

    /// <summary>No memory for the PTE table a PMD mapping needs to be split first.</summary>
    NoMemory = 4,

    /// <summary>The refcount freeze lost a race with another reference (<c>folio_ref_freeze</c> fails, -EAGAIN).</summary>
    Frozen = 5,
}
