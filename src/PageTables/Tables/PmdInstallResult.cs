namespace LargeFolios.PageTables;

/// <summary>The outcome of installing a PMD leaf.</summary>
public enum PmdInstallResult
{
    /// <summary>The leaf is mapped.</summary>
    Installed,

    /// <summary>The PMD entry was not none (another thread mapped it first, or a PTE table is there); nothing changed.</summary>
    NotNone,

    /// <summary>A table could not be allocated; nothing was mapped.</summary>
    OutOfMemory,
}
