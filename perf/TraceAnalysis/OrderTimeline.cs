using System;
using System.Collections.Generic;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// Folio allocations in time order, each with its order, so a report can cut the trace into
/// equal time buckets and show how the mix of orders moved: a workload that starts on 64 KiB
/// folios and ends on order 0 is fragmenting the arena.
/// </summary>
internal sealed class OrderTimeline
{
    private readonly List<(double TimeMs, int Order)> _allocations = [];

    /// <summary>How many allocations it holds.</summary>
    public int Count => _allocations.Count;

    /// <summary>Records an allocation of <paramref name="order"/> at <paramref name="timeMs"/>.</summary>
    public void Add(double timeMs, int order) => _allocations.Add((timeMs, order));

    /// <summary>
    /// Cuts [<paramref name="startMs"/>, <paramref name="endMs"/>] into <paramref name="buckets"/>
    /// equal spans and counts each span's allocations per order. The last span is closed at its end,
    /// so the trace's last allocation lands in it.
    /// </summary>
    public IReadOnlyList<OrderTimelineBucket> Buckets(double startMs, double endMs, int buckets)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(buckets);
        double width = Math.Max(endMs - startMs, 0) / buckets;
        var result = new OrderTimelineBucket[buckets];
        for (int i = 0; i < buckets; i++)
            result[i] = new OrderTimelineBucket(startMs + i * width, i == buckets - 1 ? endMs : startMs + (i + 1) * width, new Tally<int>());

        foreach ((double timeMs, int order) in _allocations)
        {
            int index = width > 0 ? (int)((timeMs - startMs) / width) : 0;
            result[Math.Clamp(index, 0, buckets - 1)].ByOrder.Add(order);
        }

        return result;
    }
}
