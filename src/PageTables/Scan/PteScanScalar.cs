using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LargeFolios.PageTables;

/// <summary>
/// The all-PTEs-none scan one entry at a time. It is the tail of every vector path for inputs
/// shorter than two entries, the fallback on CPUs without SIMD, and the baseline that the vector
/// paths have to beat to earn their complexity.
/// </summary>
public static class PteScanScalar
{
    /// <summary>How many leading entries of <paramref name="ptes"/> are none, by this path alone (the benchmarks' entry; <see cref="PteScan.CountNone(ReadOnlySpan{Pte})"/> picks the path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CountNone(ReadOnlySpan<Pte> ptes) =>
        CountNone(ref Unsafe.As<Pte, ulong>(ref MemoryMarshal.GetReference(ptes)), ptes.Length);

    /// <summary>
    /// How many of the <paramref name="count"/> entries from <paramref name="first"/> are zero before
    /// the first that is not: the index of the first non-none entry, or <paramref name="count"/>.
    /// Reads no entry at or past <paramref name="count"/>, since the range may end at the end of a
    /// mapped page.
    /// </summary>
    internal static int CountNone(ref ulong first, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (Unsafe.Add(ref first, i) != 0)
                return i;
        }

        return count;
    }
}
