namespace LargeFolios.FaultPath;

/// <summary>
/// The files under <c>/sys/kernel/mm/transparent_hugepage</c>, besides <c>enabled</c> and the
/// per-size <c>hugepages-&lt;size&gt;kB/enabled</c>, that act on anonymous memory
/// (<see cref="ThpPolicy.WriteKnob"/>; <see cref="ThpPolicy.KnobPath"/> gives each one's path).
/// </summary>
public enum ThpKnob
{
    /// <summary><c>use_zero_page</c> (0 or 1, default 1): a read fault may map the huge zero page.</summary>
    UseZeroPage,

    /// <summary><c>shrink_underused</c> (0 or 1, default 1): PMD THPs from faults are queued for the deferred-split shrinker, which splits underused ones.</summary>
    ShrinkUnderused,

    /// <summary><c>defrag</c> (always, defer, defer+madvise, madvise, never; default madvise): whether a THP allocation may reclaim and compact directly.</summary>
    Defrag,

    /// <summary><c>khugepaged/max_ptes_none</c> (0..511, default 511): none or zero PTEs a collapse accepts, and what makes a PMD THP underused.</summary>
    MaxPtesNone,

    /// <summary><c>khugepaged/max_ptes_shared</c> (0..511, default 256): PTEs of shared pages khugepaged accepts in a collapse.</summary>
    MaxPtesShared,

    /// <summary><c>khugepaged/max_ptes_swap</c> (0..511, default 64): swap entries khugepaged swaps in for a collapse.</summary>
    MaxPtesSwap,
}
