using System;
using System.Collections.Generic;

namespace LargeFolios.FaultPath;

/// <summary>
/// The machine's <see cref="VmEvent"/> counters (Linux <c>vm_event_states</c>, per CPU and
/// summed on read).
/// </summary>
/// <remarks>
/// Each thread counts into its own row (<see cref="PerThreadCounters"/>), as Linux counts per CPU
/// with <c>this_cpu_inc</c>: a count is a plain add, and a read sums the rows.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The machine that owns the counters releases them; a public Dispose would let any caller break a live machine.")]
public sealed class VmEvents
{
    private static readonly int Items = Enum.GetValues<VmEvent>().Length;

    private readonly PerThreadCounters _counters = new(Items);

    /// <summary>Counts one event (Linux <c>count_vm_event</c>).</summary>
    internal void Count(VmEvent item) => _counters.Add((int)item, 1);

    /// <summary>Adds <paramref name="delta"/> to an event counter (Linux <c>count_vm_events</c>).</summary>
    internal void Add(VmEvent item, long delta) => _counters.Add((int)item, delta);

    /// <summary>Counts a fault (<c>pgfault</c>) and what it did, with one look-up of the thread's row.</summary>
    internal void CountFault(VmEvent kind) => _counters.Count2((int)VmEvent.PgFault, (int)kind);

    /// <summary>A counter's value: the sum over every thread that counted.</summary>
    public long Get(VmEvent item)
    {
        if (!Enum.IsDefined(item))
            throw new ArgumentOutOfRangeException(nameof(item), item, "No such event counter.");
        return _counters.Sum((int)item);
    }

    /// <summary>Releases the per-thread rows' slot (the machine's disposal).</summary>
    internal void Release() => _counters.Dispose();

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
        VmEvent.ThpUnderusedSplitPage => "thp_underused_split_page",
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
        VmEvent.PgReuse => "pgreuse",
        VmEvent.ThpCollapseAlloc => "thp_collapse_alloc",
        VmEvent.ThpCollapseAllocFailed => "thp_collapse_alloc_failed",
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
