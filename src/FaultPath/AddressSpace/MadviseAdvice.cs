namespace LargeFolios.FaultPath;

/// <summary>The madvise advice a scenario can give (Linux's MADV_* values in the comments).</summary>
public enum MadviseAdvice
{
    /// <summary>MADV_HUGEPAGE (14): set VM_HUGEPAGE.</summary>
    HugePage,

    /// <summary>MADV_NOHUGEPAGE (15): set VM_NOHUGEPAGE.</summary>
    NoHugePage,

    /// <summary>MADV_DONTNEED (4): zap the range now.</summary>
    DontNeed,

    /// <summary>MADV_FREE (8): the range may be reclaimed lazily; large folios only partly covered are split.</summary>
    Free,

    /// <summary>MADV_POPULATE_READ (22): read-fault every page of the range that is not mapped (zero pages, the huge zero page).</summary>
    PopulateRead,

    /// <summary>MADV_POPULATE_WRITE (23): write-fault every page of the range that is not mapped writable, as if each were written.</summary>
    PopulateWrite,

    /// <summary>MADV_COLLAPSE (25): collapse each PMD-sized range into a new PMD-mapped THP now (<c>madvise_collapse</c>).</summary>
    Collapse,

    /// <summary>MADV_DONTFORK (10): set VM_DONTCOPY: a fork leaves the range behind.</summary>
    DontFork,

    /// <summary>MADV_DOFORK (11): clear VM_DONTCOPY.</summary>
    DoFork,

    /// <summary>MADV_WIPEONFORK (18): set VM_WIPEONFORK: a forked child gets the range empty.</summary>
    WipeOnFork,

    /// <summary>MADV_KEEPONFORK (19): clear VM_WIPEONFORK.</summary>
    KeepOnFork,
}
