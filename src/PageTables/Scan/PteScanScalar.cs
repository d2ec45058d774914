using System.Runtime.CompilerServices;

namespace LargeFolios.PageTables;

/// <summary>
/// The all-PTEs-none scan one entry at a time. It is the tail of every vector path for inputs
/// shorter than two entries, the fallback on CPUs without SIMD, and the baseline that the vector
/// paths have to beat to earn their complexity.
/// </summary>
internal static class PteScanScalar
{
    /// <summary>
    /// How many of the <paramref name="count"/> entries from <paramref name="first"/> are zero before
    /// the first that is not: the index of the first non-none entry, or <paramref name="count"/>.
    /// Reads no entry at or past <paramref name="count"/>, since the range may end at the end of a
    /// mapped page.
    /// </summary>
    public static int CountNone(ref ulong first, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (Unsafe.Add(ref first, i) != 0)
                return i;
        }

        return count;
    }
}
