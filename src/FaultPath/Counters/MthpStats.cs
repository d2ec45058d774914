using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.FaultPath;

/// <summary>
/// The per-size mTHP counters (Linux <c>mthp_stats</c>, read through
/// <c>/sys/kernel/mm/transparent_hugepage/hugepages-&lt;size&gt;kB/stats/</c>): one counter per
/// order 1..9 and <see cref="MthpStatItem"/>. As Linux's <c>mod_mthp_stat</c>, changes to order 0
/// (or above the PMD order) are ignored.
/// </summary>
/// <remarks>
/// Linux keeps these per CPU and sums them on read. Here each order's counters sit on their own
/// cache lines and change with one interlocked add: faults of different sizes never share a line,
/// and a read sees every completed change.
/// </remarks>
public sealed class MthpStats
{
    private const int Orders = PageGeometry.PmdOrder + 1;
    private static readonly int Items = Enum.GetValues<MthpStatItem>().Length;

    // Row stride rounded up to whole 64-byte lines so one order's counters never share a line with
    // the next order's.
    private static readonly int Stride = (Items + 7) & ~7;

    private readonly long[] _counters = new long[Orders * Stride];

    /// <summary>Adds <paramref name="delta"/> to a counter (Linux <c>mod_mthp_stat</c>).</summary>
    internal void Add(int order, MthpStatItem item, long delta)
    {
        if (order <= 0 || order > PageGeometry.PmdOrder)
            return;
        Interlocked.Add(ref _counters[(order * Stride) + (int)item], delta);
    }

    /// <summary>Counts one event (Linux <c>count_mthp_stat</c>).</summary>
    internal void Count(int order, MthpStatItem item) => Add(order, item, 1);

    /// <summary>A counter's value (what its sysfs file shows).</summary>
    public long Get(int order, MthpStatItem item)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(order);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(order, PageGeometry.PmdOrder);
        if (!Enum.IsDefined(item))
            throw new ArgumentOutOfRangeException(nameof(item), item, "No such mTHP counter.");
        return Volatile.Read(ref _counters[(order * Stride) + (int)item]);
    }

    /// <summary>The counter's sysfs file name, e.g. <c>anon_fault_alloc</c>.</summary>
    public static string Name(MthpStatItem item) => item switch
    {
        MthpStatItem.AnonFaultAlloc => "anon_fault_alloc",
        MthpStatItem.AnonFaultFallback => "anon_fault_fallback",
        MthpStatItem.AnonFaultFallbackCharge => "anon_fault_fallback_charge",
        MthpStatItem.Zswpout => "zswpout",
        MthpStatItem.Swpin => "swpin",
        MthpStatItem.SwpinFallback => "swpin_fallback",
        MthpStatItem.SwpinFallbackCharge => "swpin_fallback_charge",
        MthpStatItem.Swpout => "swpout",
        MthpStatItem.SwpoutFallback => "swpout_fallback",
        MthpStatItem.ShmemAlloc => "shmem_alloc",
        MthpStatItem.ShmemFallback => "shmem_fallback",
        MthpStatItem.ShmemFallbackCharge => "shmem_fallback_charge",
        MthpStatItem.Split => "split",
        MthpStatItem.SplitFailed => "split_failed",
        MthpStatItem.SplitDeferred => "split_deferred",
        MthpStatItem.NrAnon => "nr_anon",
        MthpStatItem.NrAnonPartiallyMapped => "nr_anon_partially_mapped",
        _ => throw new ArgumentOutOfRangeException(nameof(item), item, "No such mTHP counter."),
    };

    /// <summary>Every non-zero counter of the anonymous sizes, smallest size first, in the kernel's counter order.</summary>
    public IEnumerable<(int Order, MthpStatItem Item, long Value)> NonZero()
    {
        for (int order = ThpPolicy.MinAnonOrder; order <= PageGeometry.PmdOrder; order++)
        {
            foreach (MthpStatItem item in Enum.GetValues<MthpStatItem>())
            {
                long value = Get(order, item);
                if (value != 0)
                    yield return (order, item, value);
            }
        }
    }

    /// <summary>The non-zero counters, one per line, as <c>&lt;size&gt;kB &lt;counter&gt; &lt;value&gt;</c> (the scenario format's <c>stats</c>).</summary>
    public string Format()
    {
        var text = new StringBuilder();
        foreach (var (order, item, value) in NonZero())
            text.Append(ThpPolicy.SizeName(order)).Append(' ').Append(Name(item)).Append(' ').Append(value).Append('\n');
        return text.ToString();
    }
}
