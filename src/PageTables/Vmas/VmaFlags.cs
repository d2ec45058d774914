using System;

namespace LargeFolios.PageTables;

/// <summary>
/// The modelled part of a VMA's <c>vm_flags</c>, at Linux's bit positions (include/linux/mm.h), so a
/// value printed here reads the same as one printed by the kernel. Only the bits the anonymous fault
/// path and THP policy look at are modelled; the VM_MAY* limits, VM_ACCOUNT, VM_SOFTDIRTY and the rest
/// are not.
/// </summary>
/// <remarks>
/// <see cref="HugePage"/> and <see cref="NoHugePage"/> exclude each other: MADV_HUGEPAGE clears
/// VM_NOHUGEPAGE as it sets VM_HUGEPAGE, and the reverse, so Linux never holds both; neither a
/// <see cref="Vma"/> nor a <see cref="VmaSet"/> accepts both.
/// </remarks>
[Flags]
public enum VmaFlags : ulong
{
    /// <summary>No bits: an inaccessible mapping (PROT_NONE), and not yet marked anonymous.</summary>
    None = 0,

    /// <summary>VM_READ (0x1): reads allowed.</summary>
    Read = 0x1,

    /// <summary>VM_WRITE (0x2): writes allowed; a write fault on a private mapping gets its own page.</summary>
    Write = 0x2,

    /// <summary>VM_EXEC (0x4): instruction fetches allowed.</summary>
    Exec = 0x4,

    /// <summary>
    /// VM_SHARED (0x8): writes are seen by every process mapping the object. A shared anonymous mapping
    /// is shmem-backed in Linux (it has a <c>vm_file</c>), so it is not on the anonymous path this model
    /// follows, and <see cref="VmaSet"/> refuses it; the bit exists so callers can name it.
    /// </summary>
    Shared = 0x8,

    /// <summary>VM_DONTCOPY (0x2_0000): MADV_DONTFORK was applied; a fork leaves the VMA out of the child.</summary>
    DontCopy = 0x2_0000,

    /// <summary>
    /// VM_ACCOUNT (0x10_0000): the mapping's pages are charged to the commit limit. mmap sets it on a
    /// private writable anonymous mapping; mprotect adds it when a VMA without it becomes writable and
    /// drops it when a writable one becomes read-only before any folio was allocated in it. It decides
    /// nothing by itself here, but VMAs that differ in it never merge.
    /// </summary>
    Account = 0x10_0000,

    /// <summary>VM_WIPEONFORK (0x200_0000): MADV_WIPEONFORK was applied; a forked child gets the VMA empty.</summary>
    WipeOnFork = 0x200_0000,

    /// <summary>VM_HUGEPAGE (0x2000_0000): MADV_HUGEPAGE was applied; THP "madvise" mode allows large folios here.</summary>
    HugePage = 0x2000_0000,

    /// <summary>VM_NOHUGEPAGE (0x4000_0000): MADV_NOHUGEPAGE was applied; no large folios here whatever the THP mode.</summary>
    NoHugePage = 0x4000_0000,

    /// <summary>
    /// Anonymous memory. Linux has no VM_ flag for this: a VMA is anonymous when <c>vma->vm_file</c> is
    /// NULL (<c>vma_is_anonymous</c>). The model has no file pointer, so it spends bit 62 on the fact, far
    /// above the highest bit Linux 6.18 assigns in <c>vm_flags</c> (the low 40s on x86-64), so it can
    /// never be mistaken for a real VM_ flag. <see cref="VmaSet.Map"/> sets it on every VMA it creates,
    /// as <c>vma_set_anonymous</c> does in <c>mmap_region</c>.
    /// </summary>
    Anonymous = 1UL << 62,
}
