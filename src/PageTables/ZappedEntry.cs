namespace LargeFolios.PageTables;

/// <summary>
/// An entry a zap cleared (what Linux's <c>zap_pte_range</c> hands to rmap and the TLB gather):
/// the virtual address it mapped and the entry as it was.
/// </summary>
/// <param name="Address">The first virtual address the entry mapped.</param>
/// <param name="Entry">The entry before it was cleared.</param>
/// <param name="IsPmdLeaf">True for a 2 MiB PMD leaf, false for a 4 KiB PTE.</param>
public readonly record struct ZappedEntry(ulong Address, Pte Entry, bool IsPmdLeaf);
