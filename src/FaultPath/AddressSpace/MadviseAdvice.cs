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
}
