using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// Which CPU the calling thread runs on, cheaply. The kernel reads its CPU number from a per-CPU
/// register for free (preemption disabled); user space must ask the OS (<c>sched_getcpu</c>,
/// about 3 ns here), and .NET's thread-local storage costs about 2 ns per access on Linux (a call
/// into the TLS resolver), which is a fifth of an allocate + free pair.
/// </summary>
/// <remarks>
/// So the answer is cached in a small table indexed by the calling thread's stack address: a
/// thread's stack never moves, and thread stacks lie megabytes apart, so each thread finds its
/// own slot. The slot is asked again every <see cref="RefreshInterval"/> uses, or at once after
/// the per-CPU set it named was busy (<see cref="Forget"/>). Two threads whose stacks share a slot
/// overwrite each other's answer; a wrong answer costs speed (a busy set, then the buddy core),
/// never correctness: every per-CPU set is locked.
/// </remarks>
internal static unsafe class CurrentCpu
{
    private const int RefreshInterval = 64;
    private const int CountBits = 8;
    private const int Slots = 256;

    // 1 MiB of stack per slot: .NET's thread stacks are 1.5 MiB (8 MiB for the main thread).
    private const int StackShift = 20;

    // One cache line per slot, so threads never write each other's lines.
    private const int SlotShift = 6;
    private const int SlotBytes = 1 << SlotShift;

    // Per slot: (processor id << CountBits) | uses left before asking again; 0 = never asked.
    // Never freed: one table for the process, 16 KiB.
    private static readonly int* s_slots = AllocateSlots();

    private static int* AllocateSlots()
    {
        var slots = (int*)NativeMemory.AlignedAlloc(Slots * SlotBytes, SlotBytes);
        NativeMemory.Clear(slots, Slots * SlotBytes);
        return slots;
    }

    /// <summary>The calling thread's processor id, at most <see cref="RefreshInterval"/> uses old.</summary>
    public static int Id
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int* slot = Slot();
            int state = *slot;
            if ((state & ((1 << CountBits) - 1)) == 0)
                state = Refresh();
            *slot = state - 1;
            return state >> CountBits;
        }
    }

    /// <summary>Makes the calling thread's next <see cref="Id"/> ask the OS again.</summary>
    public static void Forget() => *Slot() &= ~((1 << CountBits) - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int* Slot()
    {
        byte marker;
        nuint stack = (nuint)(&marker);
        return (int*)((byte*)s_slots + ((stack >> (StackShift - SlotShift)) & ((Slots - 1) << SlotShift)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Refresh() => (Thread.GetCurrentProcessorId() << CountBits) | RefreshInterval;
}
