using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LargeFolios.PageTables;

/// <summary>
/// The all-PTEs-none scan four entries per compare: the widest path on AVX2 CPUs, and the
/// short-input path of <see cref="PteScanVector512"/> (an order-2 folio's four entries). Long
/// ranges OR four vectors together and test once per step, for the reason
/// <see cref="PteScanVector512"/> gives: one test per vector limits the loop, not the loads.
/// </summary>
public static class PteScanVector256
{
    private const int Lanes = 4;
    private const int LanesPerStep = 4 * Lanes;

    /// <summary>How many leading entries of <paramref name="ptes"/> are none, by this path alone (the benchmarks' entry; <see cref="PteScan.CountNone(ReadOnlySpan{Pte})"/> picks the path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CountNone(ReadOnlySpan<Pte> ptes) =>
        CountNone(ref Unsafe.As<Pte, ulong>(ref MemoryMarshal.GetReference(ptes)), ptes.Length);

    /// <summary>
    /// How many of the <paramref name="count"/> entries from <paramref name="first"/> are zero before
    /// the first that is not. Correct for every count: fewer than four entries go to
    /// <see cref="PteScanVector128"/>, since a 256-bit load would read past the range.
    /// </summary>
    internal static int CountNone(ref ulong first, int count)
    {
        if (count < Vector256<ulong>.Count)
            return PteScanVector128.CountNone(ref first, count);

        nuint offset = 0;
        if (count >= LanesPerStep)
        {
            nuint lastStep = (nuint)(uint)(count - LanesPerStep);
            do
            {
                Vector256<ulong> entries0 = Vector256.LoadUnsafe(ref first, offset);
                Vector256<ulong> entries1 = Vector256.LoadUnsafe(ref first, offset + Lanes);
                Vector256<ulong> entries2 = Vector256.LoadUnsafe(ref first, offset + 2 * Lanes);
                Vector256<ulong> entries3 = Vector256.LoadUnsafe(ref first, offset + 3 * Lanes);
                if ((entries0 | entries1 | entries2 | entries3) != Vector256<ulong>.Zero)
                    return (int)offset + FirstNonZeroLane(entries0, entries1, entries2, entries3);
                offset += LanesPerStep;
            }
            while (offset <= lastStep);

            // Ranges of a whole number of steps (every order from 4 up) end here.
            if (offset == (nuint)(uint)count)
                return count;
        }

        // As in PteScanVector128: whole vectors up to the last one, which one overlapping load covers.
        nuint lastVector = (nuint)(uint)(count - Vector256<ulong>.Count);
        while (offset < lastVector)
        {
            Vector256<ulong> entries = Vector256.LoadUnsafe(ref first, offset);
            if (entries != Vector256<ulong>.Zero)
                return (int)offset + FirstNonZeroLane(entries);
            offset += Lanes;
        }

        return (int)lastVector + FirstNonZeroLane(Vector256.LoadUnsafe(ref first, lastVector));
    }

    /// <summary>The index of the first non-zero lane, or the lane count when there is none (see <see cref="PteScanVector128"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FirstNonZeroLane(Vector256<ulong> entries) =>
        BitOperations.TrailingZeroCount(~Vector256.Equals(entries, Vector256<ulong>.Zero).ExtractMostSignificantBits());

    /// <summary>The first non-zero lane of four consecutive vectors, at least one not zero: their four-bit zero masks side by side make one 16-bit mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FirstNonZeroLane(Vector256<ulong> entries0, Vector256<ulong> entries1, Vector256<ulong> entries2, Vector256<ulong> entries3)
    {
        uint zeroLanes = Vector256.Equals(entries0, Vector256<ulong>.Zero).ExtractMostSignificantBits()
            | Vector256.Equals(entries1, Vector256<ulong>.Zero).ExtractMostSignificantBits() << Lanes
            | Vector256.Equals(entries2, Vector256<ulong>.Zero).ExtractMostSignificantBits() << (2 * Lanes)
            | Vector256.Equals(entries3, Vector256<ulong>.Zero).ExtractMostSignificantBits() << (3 * Lanes);
        return BitOperations.TrailingZeroCount(~zeroLanes);
    }
}
