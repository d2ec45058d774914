using System;
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
/// own slot. Reading the slot is a load and no store, so the fast paths write no line beyond the
/// ones they work on. The slot is asked again after <see cref="Forget"/>, which the per-CPU sets
/// call when one was busy and every <see cref="PerCpuPages.CpuCheckInterval"/> times one is
/// taken (the countdown lives in the set, a line the taker writes anyway). Two threads whose
/// stacks share a slot overwrite each other's answer; a wrong or stale answer costs speed (a busy
/// set, then the buddy core), never correctness: every per-CPU set is locked.
/// </remarks>
internal static unsafe class CurrentCpu
{
    private const int Slots = 256;

    // 1 MiB of stack per slot: .NET's thread stacks are 1.5 MiB (8 MiB for the main thread).
    private const int StackShift = 20;

    // One cache line per slot, so threads never write each other's lines.
    private const int SlotShift = 6;
    private const int SlotBytes = 1 << SlotShift;

    // Per slot: processor id + 1; 0 = ask the OS.
    // Never freed: one table for the process, 16 KiB.
    private static readonly int* s_slots = AllocateSlots();

    private static int* AllocateSlots()
    {
        var slots = (int*)NativeMemory.AlignedAlloc(Slots * SlotBytes, SlotBytes);
        NativeMemory.Clear(slots, Slots * SlotBytes);
        return slots;
    }

    /// <summary>The calling thread's processor id, as last asked.</summary>
    public static int Id
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int* slot = Slot();
            int state = *slot;
            if (state == 0)
                state = Refresh(slot);
            return state - 1;
        }
    }

    /// <summary>Makes the calling thread's next <see cref="Id"/> ask the OS again.</summary>
    public static void Forget() => *Slot() = 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int* Slot()
    {
        byte marker;
        nuint stack = (nuint)(&marker);
        return (int*)((byte*)s_slots + ((stack >> (StackShift - SlotShift)) & ((Slots - 1) << SlotShift)));
    }

    /// <summary>How many times the calling thread asked the OS for its CPU: the cost the cache saves, counted on the slow path only.</summary>
    internal static int AskedOnThisThread => t_asked;

    [ThreadStatic]
    private static int t_asked;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Refresh(int* slot)
    {
        t_asked++;
        return *slot = Thread.GetCurrentProcessorId() + 1;
    }
}
