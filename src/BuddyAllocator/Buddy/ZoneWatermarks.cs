using System;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The zone watermarks Linux would set for a machine whose only zone is this arena
/// (<c>calculate_min_free_kbytes</c> and <c>__setup_per_zone_wmarks</c>, watermark_scale_factor
/// 10). The arena does not reclaim, so they gate nothing; they size the per-CPU caches as
/// Linux does (<c>zone_highsize</c>) and are reported for comparison.
/// </summary>
/// <param name="Min">WMARK_MIN in pages.</param>
/// <param name="Low">WMARK_LOW in pages.</param>
/// <param name="High">WMARK_HIGH in pages.</param>
public readonly record struct ZoneWatermarks(long Min, long Low, long High)
{
    /// <summary>Computes the watermarks for a zone of <paramref name="managedPages"/> pages.</summary>
    public static ZoneWatermarks For(long managedPages)
    {
        long kbytes = managedPages * (PageGeometry.PageSize >> 10);
        long minFreeKbytes = Math.Clamp((long)Math.Sqrt(kbytes * 16.0), 128, 262144);
        long min = minFreeKbytes >> (PageGeometry.PageShift - 10);
        long gap = Math.Max(min >> 2, managedPages * 10 / 10000);
        return new ZoneWatermarks(min, min + gap, min + 2 * gap);
    }

    /// <summary>Linux <c>zone_batchsize</c>: about 0.1% of the zone or 1 MiB, whichever is smaller, clamped to 2^n - 1, at least 1.</summary>
    public static int PerCpuBatch(long managedPages)
    {
        long batch = Math.Min(managedPages >> 10, (1 << 20) / PageGeometry.PageSize) / 4;
        if (batch < 1)
            batch = 1;
        long value = batch + batch / 2;
        int clamped = (int)(1L << (63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)value))) - 1;

        // zone_set_pageset_high_and_batch(): max(1, zone_batchsize()).
        return Math.Max(1, clamped);
    }

    /// <summary>Linux <c>zone_highsize</c> with the default fraction: the low watermark split across the CPUs, at least 4 batches.</summary>
    public int PerCpuHigh(int batch, int cpus) => (int)Math.Max(Low / cpus, (long)batch << 2);
}
