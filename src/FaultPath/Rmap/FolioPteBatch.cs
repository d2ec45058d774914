using System;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>Linux <c>folio_pte_batch</c> (mm/internal.h): the run of PTEs that map consecutive pages of one folio.</summary>
internal static unsafe class FolioPteBatch
{
    /// <summary>
    /// How many PTEs from <paramref name="slot"/> (at most <paramref name="limit"/>) map consecutive
    /// pages of the folio of <paramref name="order"/> headed at <paramref name="headPfn"/>, the first
    /// of them mapping <paramref name="pfn"/>: at least 1, never past the folio's last page.
    /// </summary>
    public static int Count(Pte* slot, int limit, uint pfn, uint headPfn, int order)
    {
        limit = Math.Min(limit, (1 << order) - (int)(pfn - headPfn));
        int nr = 1;
        while (nr < limit && slot[nr].IsPresent && !slot[nr].IsSpecial && slot[nr].Pfn == pfn + (ulong)nr)
            nr++;
        return nr;
    }
}
