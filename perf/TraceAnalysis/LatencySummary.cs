using System;
using System.Collections.Generic;
using System.Linq;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// The distribution of a set of durations: count and the percentiles a latency question needs
/// (median, tail, worst), nearest-rank, so every figure is a duration that really occurred.
/// </summary>
/// <param name="Count">How many durations.</param>
/// <param name="P50">The median.</param>
/// <param name="P90">90th percentile.</param>
/// <param name="P99">99th percentile.</param>
/// <param name="P999">99.9th percentile.</param>
/// <param name="Max">The longest.</param>
internal sealed record LatencySummary(int Count, double P50, double P90, double P99, double P999, double Max)
{
    /// <summary>No durations: every figure NaN.</summary>
    public static LatencySummary Empty { get; } = new(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);

    /// <summary>Summarises <paramref name="durations"/> (any unit; the summary keeps it).</summary>
    public static LatencySummary Of(IEnumerable<double> durations)
    {
        double[] sorted = durations.ToArray();
        if (sorted.Length == 0)
            return Empty;
        Array.Sort(sorted);
        return new LatencySummary(sorted.Length, Rank(sorted, 0.50), Rank(sorted, 0.90), Rank(sorted, 0.99), Rank(sorted, 0.999), sorted[^1]);
    }

    // Nearest rank: the smallest value with at least p of the values at or below it.
    private static double Rank(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
