using System;
using System.Text;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The buddy core's free blocks per order at one moment, and the fragmentation figures Linux
/// derives from them (mm/vmstat.c). Pages in per-CPU caches are not counted, as in Linux.
/// Indices are in thousandths, as the kernel computes them in integer arithmetic.
/// </summary>
public sealed class BuddyInfo
{
    private readonly long[] _freeBlocks;

    internal BuddyInfo(long[] freeBlocks) => _freeBlocks = freeBlocks;

    /// <summary>Creates a snapshot from free block counts per order (for what-if analysis).</summary>
    public static BuddyInfo FromFreeBlocks(ReadOnlySpan<long> freeBlocks)
    {
        if (freeBlocks.Length is 0 or > PageGeometry.MaxSupportedOrder + 1)
            throw new ArgumentOutOfRangeException(nameof(freeBlocks), freeBlocks.Length, $"Expected 1..{PageGeometry.MaxSupportedOrder + 1} orders.");
        foreach (long blocks in freeBlocks)
        {
            if (blocks < 0)
                throw new ArgumentOutOfRangeException(nameof(freeBlocks), blocks, "Free block counts cannot be negative.");
        }

        return new BuddyInfo(freeBlocks.ToArray());
    }

    /// <summary>The largest order (the arena's max order).</summary>
    public int MaxOrder => _freeBlocks.Length - 1;

    /// <summary>Free blocks per order (the /proc/buddyinfo columns).</summary>
    public ReadOnlySpan<long> FreeBlocksPerOrder => _freeBlocks;

    /// <summary>Free blocks of <paramref name="order"/>.</summary>
    public long FreeBlocks(int order) => _freeBlocks[CheckOrder(order)];

    /// <summary>Free pages in all blocks.</summary>
    public long FreePages
    {
        get
        {
            long pages = 0;
            for (int order = 0; order < _freeBlocks.Length; order++)
                pages += _freeBlocks[order] << order;
            return pages;
        }
    }

    /// <summary>
    /// Linux <c>unusable_free_index</c>: the share of free memory, in thousandths, that sits in
    /// blocks too small for an allocation of <paramref name="order"/>. 0 = none, 1000 = all (also
    /// when nothing is free).
    /// </summary>
    public int UnusableFreeSpaceIndex(int order)
    {
        var info = Contig(CheckOrder(order));
        if (info.FreePages == 0)
            return 1000;
        return (int)((info.FreePages - (info.SuitableBlocks << order)) * 1000 / info.FreePages);
    }

    /// <summary>
    /// Linux <c>__fragmentation_index</c>, in thousandths: only meaningful when an allocation of
    /// <paramref name="order"/> would fail. Near 0, it fails for lack of memory; near 1000, because
    /// free memory is fragmented. -1000 when the allocation would succeed; 0 when nothing is free.
    /// </summary>
    public int FragmentationIndex(int order)
    {
        var info = Contig(CheckOrder(order));
        if (info.TotalBlocks == 0)
            return 0;
        if (info.SuitableBlocks != 0)
            return -1000;
        long requested = 1L << order;
        return (int)(1000 - ((1000 + (info.FreePages * 1000 / requested)) / info.TotalBlocks));
    }

    /// <summary>Linux <c>extfrag_for_order</c>: the percentage of free pages in blocks smaller than <paramref name="order"/>.</summary>
    public int ExternalFragmentationPercent(int order)
    {
        var info = Contig(CheckOrder(order));
        if (info.FreePages == 0)
            return 0;
        return (int)((info.FreePages - (info.SuitableBlocks << order)) * 100 / info.FreePages);
    }

    /// <summary>The /proc/buddyinfo line: <c>Node 0, zone   Normal</c> and a column per order.</summary>
    public override string ToString()
    {
        var line = new StringBuilder("Node 0, zone   Normal ");
        foreach (long blocks in _freeBlocks)
            line.Append($"{blocks,6} ");
        return line.ToString();
    }

    /// <summary>The debugfs extfrag/unusable_index line.</summary>
    public string FormatUnusableFreeSpaceIndex() => FormatIndexLine(UnusableFreeSpaceIndex, "{0}.{1:000} ");

    /// <summary>The debugfs extfrag/extfrag_index line.</summary>
    public string FormatFragmentationIndex() => FormatIndexLine(FragmentationIndex, "{0,2}.{1:000} ");

    private string FormatIndexLine(Func<int, int> index, string format)
    {
        var line = new StringBuilder("Node 0, zone   Normal ");
        for (int order = 0; order < _freeBlocks.Length; order++)
        {
            // C's truncating division, as the kernel's seq_printf("%d.%03d", index / 1000, index % 1000).
            int value = index(order);
            line.AppendFormat(System.Globalization.CultureInfo.InvariantCulture, format, value / 1000, Math.Abs(value % 1000));
        }

        return line.ToString();
    }

    /// <summary>Linux <c>fill_contig_page_info</c>.</summary>
    private (long FreePages, long TotalBlocks, long SuitableBlocks) Contig(int suitableOrder)
    {
        long freePages = 0, totalBlocks = 0, suitable = 0;
        for (int order = 0; order < _freeBlocks.Length; order++)
        {
            long blocks = _freeBlocks[order];
            totalBlocks += blocks;
            freePages += blocks << order;
            if (order >= suitableOrder)
                suitable += blocks << (order - suitableOrder);
        }

        return (freePages, totalBlocks, suitable);
    }

    private int CheckOrder(int order)
    {
        if ((uint)order >= (uint)_freeBlocks.Length)
            throw new ArgumentOutOfRangeException(nameof(order), order, $"Order {order} is outside 0..{MaxOrder}.");
        return order;
    }
}
