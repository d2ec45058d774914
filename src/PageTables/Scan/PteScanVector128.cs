using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LargeFolios.PageTables;

/// <summary>
/// The all-PTEs-none scan two entries per compare: the widest path on CPUs with only SSE2 or
/// AdvSimd, and the short-input path of <see cref="PteScanVector256"/>. None is all zeros, so a
/// vector equal to zero is a run of none entries and one compare replaces two.
/// </summary>
public static class PteScanVector128
{
    /// <summary>How many leading entries of <paramref name="ptes"/> are none, by this path alone (the benchmarks' entry; <see cref="PteScan.CountNone(ReadOnlySpan{Pte})"/> picks the path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CountNone(ReadOnlySpan<Pte> ptes) =>
        CountNone(ref Unsafe.As<Pte, ulong>(ref MemoryMarshal.GetReference(ptes)), ptes.Length);

    /// <summary>
    /// How many of the <paramref name="count"/> entries from <paramref name="first"/> are zero before
    /// the first that is not. Correct for every count: a single entry goes to the scalar loop, since
    /// a vector load would read past the range, which may end at the end of a mapped page.
    /// </summary>
    internal static int CountNone(ref ulong first, int count)
    {
        if (count < Vector128<ulong>.Count)
            return PteScanScalar.CountNone(ref first, count);

        // The loop stops before the last whole vector of the range; one load there covers the
        // remainder, overlapping entries already found none instead of finishing one at a time.
        nuint lastVector = (nuint)(uint)(count - Vector128<ulong>.Count);
        nuint offset = 0;
        while (offset < lastVector)
        {
            Vector128<ulong> entries = Vector128.LoadUnsafe(ref first, offset);
            if (entries != Vector128<ulong>.Zero)
                return (int)offset + FirstNonZeroLane(entries);
            offset += (nuint)Vector128<ulong>.Count;
        }

        // The overlapped lanes are zero, so the first non-zero lane is still the answer, and an
        // all-zero vector gives lastVector + 2 == count without a branch.
        return (int)lastVector + FirstNonZeroLane(Vector128.LoadUnsafe(ref first, lastVector));
    }

    /// <summary>
    /// The index of the first non-zero lane, or the lane count when there is none: the high bits
    /// of the inverted mask stand in for lanes past the vector, so the all-zero case needs no test.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FirstNonZeroLane(Vector128<ulong> entries) =>
        BitOperations.TrailingZeroCount(~Vector128.Equals(entries, Vector128<ulong>.Zero).ExtractMostSignificantBits());
}
