using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// One CPU's cache of free blocks in front of the buddy core (Linux <c>struct per_cpu_pages</c>):
/// a list per cached order, the pages they hold, and the watermarks that bound them. Lives in
/// native memory, one 128-byte slot per CPU so neighbouring CPUs never share a cache line (or the
/// adjacent line the prefetcher pairs with it).
/// </summary>
/// <remarks>
/// Blocks here are frozen folios: refcount 0, but their compound layout is kept (tails point at
/// the head, page[1] holds the order). Linux clears and rewrites every tail on each free and
/// allocation; keeping the layout while a block is cached makes a cached allocation O(1) at every
/// order, and moves the O(2^order) work to the refill and drain boundaries with the buddy core.
/// <para>Invariant: <c>Count</c> == Σ over lists of (blocks on list k) · 2^k, under <c>Lock</c>.</para>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 128)]
internal struct PerCpuPages
{
    /// <summary>Held for any access to the lists or counters; taken with try-lock on the fast paths.</summary>
    public RawSpinLock Lock;

    /// <summary>Pages on all lists (Linux pcp->count).</summary>
    public int Count;

    /// <summary>Drain when <c>Count</c> reaches this (Linux pcp->high).</summary>
    public int High;

    /// <summary>Pages moved per refill or drain (Linux pcp->batch).</summary>
    public int Batch;

    /// <summary>
    /// Takes of this set left before the taker asks the OS its CPU again (<see cref="CurrentCpu"/>
    /// caches the answer; a thread that migrated keeps naming this set until then).
    /// </summary>
    public int TakesUntilCpuCheck;

    /// <summary>How often a taker re-checks its CPU: every this many takes of a set.</summary>
    public const int CpuCheckInterval = 64;

    /// <summary>One list per order 0..<see cref="PageGeometry.PmdOrder"/>; orders not cached stay empty.</summary>
    public PerCpuLists Lists;

    /// <summary>Folios this set handed out (Linux's per-CPU <c>PGALLOC</c>), under <c>Lock</c>: the line is already held.</summary>
    public long Allocations;

    /// <summary>Folios freed into this set (Linux's per-CPU <c>PGFREE</c>), under <c>Lock</c>.</summary>
    public long Frees;
}

/// <summary>Inline storage for the per-order lists of a <see cref="PerCpuPages"/>.</summary>
[InlineArray(PageGeometry.PmdOrder + 1)]
internal struct PerCpuLists
{
    private PfnList _element0;
}
