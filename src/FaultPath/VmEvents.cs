using System;
using System.Collections.Generic;
using System.Threading;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.FaultPath;

/// <summary>
/// The machine's <see cref="VmEvent"/> counters (Linux <c>vm_event_states</c>, per CPU and
/// summed on read).
/// </summary>
/// <remarks>
/// Each counter is striped over 16 slots picked by the current CPU, so faults on different cores
/// add to different cache lines; a read sums the stripes. An add is one interlocked add on a line
/// the core usually owns already.
/// </remarks>
public sealed class VmEvents
{
    private const int Stripes = 16;
    private static readonly int Items = Enum.GetValues<VmEvent>().Length;

    // One row per stripe, rounded up to whole 64-byte lines.
    private static readonly int Stride = (Items + 7) & ~7;

    private readonly long[] _counters = new long[Stripes * Stride];

    /// <summary>Counts one event (Linux <c>count_vm_event</c>).</summary>
    public void Count(VmEvent item) => Add(item, 1);

    /// <summary>Adds <paramref name="delta"/> to an event counter (Linux <c>count_vm_events</c>).</summary>
    public void Add(VmEvent item, long delta) =>
        Interlocked.Add(ref _counters[((CurrentCpu.Id & (Stripes - 1)) * Stride) + (int)item], delta);

    /// <summary>A counter's value.</summary>
    public long Get(VmEvent item)
    {
        if (!Enum.IsDefined(item))
            throw new ArgumentOutOfRangeException(nameof(item), item, "No such event counter.");
        long sum = 0;
        for (int stripe = 0; stripe < Stripes; stripe++)
            sum += Volatile.Read(ref _counters[(stripe * Stride) + (int)item]);
        return sum;
    }

    /// <summary>The counter's name: its /proc/vmstat line, or <c>model_...</c> for the model's own.</summary>
    public static string Name(VmEvent item) => item switch
    {
        VmEvent.PgFault => "pgfault",
        VmEvent.ThpFaultAlloc => "thp_fault_alloc",
        VmEvent.ThpFaultFallback => "thp_fault_fallback",
        VmEvent.ThpFaultFallbackCharge => "thp_fault_fallback_charge",
        VmEvent.ThpSplitPage => "thp_split_page",
        VmEvent.ThpSplitPageFailed => "thp_split_page_failed",
        VmEvent.ThpDeferredSplitPage => "thp_deferred_split_page",
        VmEvent.ThpSplitPmd => "thp_split_pmd",
        VmEvent.ThpZeroPageAlloc => "thp_zero_page_alloc",
        VmEvent.ZeroPageFault => "model_zero_page_fault",
        VmEvent.HugeZeroPageFault => "model_huge_zero_page_fault",
        VmEvent.AnonFolioFault => "model_anon_folio_fault",
        VmEvent.PmdFolioFault => "model_pmd_folio_fault",
        VmEvent.CowFault => "model_cow_fault",
        VmEvent.SpuriousFault => "model_spurious_fault",
        VmEvent.OomFault => "model_oom_fault",
        VmEvent.ZeroPageRemap => "model_zero_page_remap",
        VmEvent.PteTableReclaim => "model_pte_table_reclaim",
        _ => throw new ArgumentOutOfRangeException(nameof(item), item, "No such event counter."),
    };

    /// <summary>Every counter that is not zero, in enum order.</summary>
    public IEnumerable<(VmEvent Item, long Value)> NonZero()
    {
        foreach (VmEvent item in Enum.GetValues<VmEvent>())
        {
            long value = Get(item);
            if (value != 0)
                yield return (item, value);
        }
    }
}
