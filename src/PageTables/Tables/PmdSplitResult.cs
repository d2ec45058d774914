namespace LargeFolios.PageTables;

/// <summary>The outcome of splitting a PMD leaf.</summary>
public enum PmdSplitResult
{
    /// <summary>The leaf was replaced by a PTE table mapping the same pages.</summary>
    Split,

    /// <summary>No leaf was there (none, already a table, or another thread split it first); nothing changed.</summary>
    NotLeaf,

    /// <summary>No table was deposited and none could be allocated; the leaf is unchanged.</summary>
    OutOfMemory,
}
