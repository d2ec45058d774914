using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LargeFolios.PageTables;

/// <summary>
/// The all-PTEs-none scan four entries per compare: the widest path on AVX2 CPUs, and the
/// short-input path of <see cref="PteScanVector512"/> (an order-2 folio's four entries).
/// </summary>
internal static class PteScanVector256
{
    /// <summary>
    /// How many of the <paramref name="count"/> entries from <paramref name="first"/> are zero before
    /// the first that is not. Correct for every count: fewer than four entries go to
    /// <see cref="PteScanVector128"/>, since a 256-bit load would read past the range.
    /// </summary>
    public static int CountNone(ref ulong first, int count)
    {
        if (count < Vector256<ulong>.Count)
            return PteScanVector128.CountNone(ref first, count);

        // As in PteScanVector128: whole vectors up to the last one, which one overlapping load covers.
        nuint lastVector = (nuint)(uint)(count - Vector256<ulong>.Count);
        nuint offset = 0;
        while (offset < lastVector)
        {
            Vector256<ulong> entries = Vector256.LoadUnsafe(ref first, offset);
            if (entries != Vector256<ulong>.Zero)
                return (int)offset + FirstNonZeroLane(entries);
            offset += (nuint)Vector256<ulong>.Count;
        }

        return (int)lastVector + FirstNonZeroLane(Vector256.LoadUnsafe(ref first, lastVector));
    }

    /// <summary>The index of the first non-zero lane, or the lane count when there is none (see <see cref="PteScanVector128"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FirstNonZeroLane(Vector256<ulong> entries) =>
        BitOperations.TrailingZeroCount(~Vector256.Equals(entries, Vector256<ulong>.Zero).ExtractMostSignificantBits());
}
