using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LargeFolios.PageTables;

/// <summary>
/// The all-PTEs-none scan, the hot loop of the fault path's order selection: how many leading
/// entries of a PTE range are none (the seed's <c>check_all_ptes_none</c>), and whether all are
/// (Linux <c>pte_range_none</c>).
/// </summary>
public static unsafe class PteScan
{
    /// <summary>How many of the first <paramref name="count"/> entries at <paramref name="ptes"/> are none before the first that is not.</summary>
    public static int CountNone(Pte* ptes, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return CountNoneScalar(ref *(ulong*)ptes, count);
    }

    /// <summary>How many leading entries of <paramref name="ptes"/> are none.</summary>
    public static int CountNone(ReadOnlySpan<Pte> ptes) =>
        CountNoneScalar(ref Unsafe.As<Pte, ulong>(ref MemoryMarshal.GetReference(ptes)), ptes.Length);

    /// <summary>True when all <paramref name="count"/> entries at <paramref name="ptes"/> are none (Linux <c>pte_range_none</c>).</summary>
    public static bool AllNone(Pte* ptes, int count) => CountNone(ptes, count) == count;

    /// <summary>True when every entry of <paramref name="ptes"/> is none.</summary>
    public static bool AllNone(ReadOnlySpan<Pte> ptes) => CountNone(ptes) == ptes.Length;

    private static int CountNoneScalar(ref ulong first, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (Unsafe.Add(ref first, i) != 0)
                return i;
        }

        return count;
    }
}
