using System;
using System.Globalization;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.Folios.Reports;

/// <summary>How report cells write numbers: invariant culture, thousands grouped, indices as the kernel prints them.</summary>
internal static class ReportFormat
{
    /// <summary>A count: 196,608.</summary>
    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Pages as /proc/meminfo and /proc/PID/status write memory: 786,432 kB.</summary>
    public static string Kilobytes(long pages) => Count(pages * (PageGeometry.PageSize >> 10)) + " kB";

    /// <summary>A ratio with two decimals: 1.27.</summary>
    public static string Ratio(double value) => double.IsFinite(value) ? value.ToString("N2", CultureInfo.InvariantCulture) : "-";

    /// <summary>Milliseconds with one decimal: 41.7 ms.</summary>
    public static string Milliseconds(TimeSpan elapsed) => elapsed.TotalMilliseconds.ToString("N1", CultureInfo.InvariantCulture) + " ms";

    /// <summary>Nanoseconds, whole: 112 ns.</summary>
    public static string Nanoseconds(double value) => double.IsFinite(value) ? value.ToString("N0", CultureInfo.InvariantCulture) + " ns" : "-";

    /// <summary>
    /// An index in thousandths as debugfs <c>extfrag/</c> prints it (<c>%d.%03d</c> of the value's
    /// C quotient and remainder): 0.875, -1.000.
    /// </summary>
    public static string Index(int thousandths) =>
        string.Create(CultureInfo.InvariantCulture, $"{(thousandths < 0 ? "-" : "")}{Math.Abs(thousandths / 1000)}.{Math.Abs(thousandths % 1000):000}");
}
