using System;

namespace LargeFolios.PageTables;

/// <summary>
/// The flag bits of a page-table entry, at x86-64's positions (arch/x86/include/asm/pgtable_types.h).
/// Bits 12..51 hold the PFN; everything here lies outside them.
/// </summary>
[Flags]
public enum PteFlags : ulong
{
    /// <summary>No bits: with a zero PFN, the none entry.</summary>
    None = 0,

    /// <summary>_PAGE_PRESENT (bit 0): the entry translates.</summary>
    Present = 1UL << 0,

    /// <summary>_PAGE_RW (bit 1): writes allowed.</summary>
    Write = 1UL << 1,

    /// <summary>_PAGE_USER (bit 2): user-mode access.</summary>
    User = 1UL << 2,

    /// <summary>_PAGE_ACCESSED (bit 5): set by the MMU on any access.</summary>
    Accessed = 1UL << 5,

    /// <summary>_PAGE_DIRTY (bit 6): set by the MMU on a write.</summary>
    Dirty = 1UL << 6,

    /// <summary>_PAGE_PSE (bit 7): in a PMD entry, a leaf mapping 2 MiB rather than a pointer to a PTE table.</summary>
    Huge = 1UL << 7,

    /// <summary>
    /// _PAGE_PROTNONE (bit 8, the global bit's place): the entry of a PROT_NONE mapping. Linux clears
    /// _PAGE_PRESENT on such an entry but <c>pte_present</c> still counts it, since it maps its page;
    /// here <see cref="Present"/> stays set (it means <c>pte_present</c>) and this bit, with User and
    /// Write clear, says no access is allowed.
    /// </summary>
    ProtNone = 1UL << 8,

    /// <summary>_PAGE_SPECIAL (bit 9, software): no struct page behind it (the zero page, the huge zero page).</summary>
    Special = 1UL << 9,
}
