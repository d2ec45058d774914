using System.Collections.Generic;
using System.Linq;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// One /proc/buddyinfo row of an arena at one moment: its free blocks per order, from the
/// BuddyFreeArea events that share a snapshot number.
/// </summary>
/// <param name="ArenaId">The arena.</param>
/// <param name="Number">The snapshot number (process-wide, rising).</param>
/// <param name="TimeMs">When its first event was written, in milliseconds from the session's start.</param>
/// <param name="FreeBlocks">Free blocks per order; an order with no event is absent.</param>
internal sealed record FreeAreaSnapshot(int ArenaId, long Number, double TimeMs, IReadOnlyDictionary<int, long> FreeBlocks)
{
    /// <summary>Free pages held in blocks of <paramref name="order"/>: blocks times 2^order.</summary>
    public long FreePages(int order) => FreeBlocks.GetValueOrDefault(order) << order;

    /// <summary>Free pages over every order.</summary>
    public long TotalFreePages => FreeBlocks.Sum(pair => pair.Value << pair.Key);
}
