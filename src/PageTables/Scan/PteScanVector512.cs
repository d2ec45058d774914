using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LargeFolios.PageTables;

/// <summary>
/// The all-PTEs-none scan eight entries per compare (AVX-512). A whole PTE table is 64 vectors,
/// so the loop ORs four vectors together and tests once per step: with one test per vector the
/// test-and-branch, not the loads, limits the loop, and the common answer (all none) needs no lane
/// positions, only the knowledge that every bit was zero. On Zen 4 a 512-entry table took about
/// 34 ns with one vector per step and 18 ns with four, which is the L1 load bandwidth (64 bytes a
/// cycle); eight per step measured the same as four.
/// </summary>
public static class PteScanVector512
{
    private const int Lanes = 8;
    private const int LanesPerStep = 4 * Lanes;

    /// <summary>How many leading entries of <paramref name="ptes"/> are none, by this path alone (the benchmarks' entry; <see cref="PteScan.CountNone(ReadOnlySpan{Pte})"/> picks the path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CountNone(ReadOnlySpan<Pte> ptes) =>
        CountNone(ref Unsafe.As<Pte, ulong>(ref MemoryMarshal.GetReference(ptes)), ptes.Length);

    /// <summary>
    /// How many of the <paramref name="count"/> entries from <paramref name="first"/> are zero before
    /// the first that is not. Correct for every count: fewer than eight entries go to
    /// <see cref="PteScanVector256"/>, since a 512-bit load would read past the range.
    /// </summary>
    internal static int CountNone(ref ulong first, int count)
    {
        if (count < Vector512<ulong>.Count)
            return PteScanVector256.CountNone(ref first, count);

        nuint offset = 0;
        if (count >= LanesPerStep)
        {
            nuint lastStep = (nuint)(uint)(count - LanesPerStep);
            do
            {
                Vector512<ulong> entries0 = Vector512.LoadUnsafe(ref first, offset);
                Vector512<ulong> entries1 = Vector512.LoadUnsafe(ref first, offset + Lanes);
                Vector512<ulong> entries2 = Vector512.LoadUnsafe(ref first, offset + 2 * Lanes);
                Vector512<ulong> entries3 = Vector512.LoadUnsafe(ref first, offset + 3 * Lanes);
                if ((entries0 | entries1 | entries2 | entries3) != Vector512<ulong>.Zero)
                    return (int)offset + FirstNonZeroLane(entries0, entries1, entries2, entries3);
                offset += LanesPerStep;
            }
            while (offset <= lastStep);

            // Every order range of 32 entries or more (order 5 up to the whole table) ends here:
            // skip the tail load, whose lanes would all have been checked already.
            if (offset == (nuint)(uint)count)
                return count;
        }

        // Fewer than four vectors are left: whole vectors up to the last one, then one load of the
        // last whole vector of the range, overlapping entries already found none.
        nuint lastVector = (nuint)(uint)(count - Vector512<ulong>.Count);
        while (offset < lastVector)
        {
            Vector512<ulong> entries = Vector512.LoadUnsafe(ref first, offset);
            if (entries != Vector512<ulong>.Zero)
                return (int)offset + FirstNonZeroLane(entries);
            offset += Lanes;
        }

        return (int)lastVector + FirstNonZeroLane(Vector512.LoadUnsafe(ref first, lastVector));
    }

    /// <summary>
    /// The index of the first non-zero lane, or the lane count when there is none: the high bits
    /// of the inverted mask stand in for lanes past the vector, so the all-zero case needs no test.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FirstNonZeroLane(Vector512<ulong> entries) =>
        BitOperations.TrailingZeroCount(~Vector512.Equals(entries, Vector512<ulong>.Zero).ExtractMostSignificantBits());

    /// <summary>
    /// The first non-zero lane of four consecutive vectors, at least one of them not zero: their
    /// eight-bit zero masks side by side make one 32-bit mask, so finding the vector costs no branches.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FirstNonZeroLane(Vector512<ulong> entries0, Vector512<ulong> entries1, Vector512<ulong> entries2, Vector512<ulong> entries3)
    {
        ulong zeroLanes = Vector512.Equals(entries0, Vector512<ulong>.Zero).ExtractMostSignificantBits()
            | Vector512.Equals(entries1, Vector512<ulong>.Zero).ExtractMostSignificantBits() << Lanes
            | Vector512.Equals(entries2, Vector512<ulong>.Zero).ExtractMostSignificantBits() << (2 * Lanes)
            | Vector512.Equals(entries3, Vector512<ulong>.Zero).ExtractMostSignificantBits() << (3 * Lanes);
        return BitOperations.TrailingZeroCount(~zeroLanes);
    }
}
