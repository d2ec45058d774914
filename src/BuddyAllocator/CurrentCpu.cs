using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// Which CPU the calling thread runs on, cheaply. The kernel picks a per-CPU page set with
/// preemption disabled, for free; user space must ask the OS (<c>sched_getcpu</c>, about 3 ns
/// here), so the answer is cached per thread and asked again every <see cref="RefreshInterval"/>
/// calls or when the cached set turns out to be busy (<see cref="Forget"/>). A stale answer costs
/// speed, never correctness: every per-CPU set is locked.
/// </summary>
internal static class CurrentCpu
{
    private const int RefreshInterval = 64;
    private const int CountBits = 8;

    // (processor id << CountBits) | calls left before asking again; 0 = never asked.
    [ThreadStatic]
    private static int t_state;

    /// <summary>The calling thread's processor id, at most <see cref="RefreshInterval"/> calls old.</summary>
    public static int Id
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int state = t_state;
            if ((state & ((1 << CountBits) - 1)) == 0)
                state = Refresh();
            t_state = state - 1;
            return state >> CountBits;
        }
    }

    /// <summary>Makes the next <see cref="Id"/> ask the OS again.</summary>
    public static void Forget() => t_state &= ~((1 << CountBits) - 1);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Refresh() => (Thread.GetCurrentProcessorId() << CountBits) | RefreshInterval;
}
