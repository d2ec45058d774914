namespace LargeFolios.PageTables;

/// <summary>What a walk to a PTE table found.</summary>
public enum WalkResult
{
    /// <summary>The PTE table exists (or was just allocated).</summary>
    Table,

    /// <summary>A level on the way is none and the walk was not asked to allocate.</summary>
    NoTable,

    /// <summary>The PMD entry is a 2 MiB leaf: there is no PTE table until it is split.</summary>
    PmdLeaf,

    /// <summary>A missing table could not be allocated: the arena is out of order-0 pages.</summary>
    OutOfMemory,
}
