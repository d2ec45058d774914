using System.Runtime.CompilerServices;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// The modelled user address space: x86-64 with 4-level paging. 48-bit virtual addresses, of which
/// user space owns the lower half up to one page short of 2^47 (Linux <c>TASK_SIZE_MAX</c>, the
/// guard page below the non-canonical hole). Each level indexes 9 bits: PGD 39..47, PUD 30..38,
/// PMD 21..29, PTE 12..20.
/// </summary>
public static class VirtualAddress
{
    /// <summary>Entries per table at every level (Linux PTRS_PER_PTE and friends).</summary>
    public const int EntriesPerTable = 512;

    /// <summary>log2 of the span one PMD entry maps (Linux PMD_SHIFT): 2 MiB.</summary>
    public const int PmdShift = 21;

    /// <summary>log2 of the span one PUD entry maps (Linux PUD_SHIFT): 1 GiB.</summary>
    public const int PudShift = 30;

    /// <summary>log2 of the span one PGD entry maps (Linux PGDIR_SHIFT): 512 GiB.</summary>
    public const int PgdShift = 39;

    /// <summary>Bytes one PMD entry (one full PTE table) maps (Linux PMD_SIZE).</summary>
    public const ulong PmdSize = 1UL << PmdShift;

    /// <summary>The first address above user space (Linux <c>TASK_SIZE_MAX</c> on x86-64: 2^47 - 4 KiB).</summary>
    public const ulong TaskSize = (1UL << 47) - PageGeometry.PageSize;

    /// <summary>Index into the PGD.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int PgdIndex(ulong address) => (int)(address >> PgdShift) & (EntriesPerTable - 1);

    /// <summary>Index into a PUD table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int PudIndex(ulong address) => (int)(address >> PudShift) & (EntriesPerTable - 1);

    /// <summary>Index into a PMD table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int PmdIndex(ulong address) => (int)(address >> PmdShift) & (EntriesPerTable - 1);

    /// <summary>Index into a PTE table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int PteIndex(ulong address) => (int)(address >> PageGeometry.PageShift) & (EntriesPerTable - 1);

    /// <summary>True when <paramref name="address"/> is a multiple of the 4 KiB page size.</summary>
    public static bool IsPageAligned(ulong address) => (address & (PageGeometry.PageSize - 1)) == 0;

    /// <summary>The start of the 2 MiB region holding <paramref name="address"/>.</summary>
    public static ulong PmdAlignDown(ulong address) => address & ~(PmdSize - 1);
}
