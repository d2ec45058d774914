using System.Runtime.CompilerServices;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// A one-word test-and-test-and-set lock that can live in native memory (a per-CPU page set,
/// the buddy core). Uncontended cost: one <c>lock cmpxchg</c> to enter (about 2.5 ns on the
/// reference machine) and a plain release store to exit.
/// </summary>
/// <remarks>
/// Critical sections are short (list surgery; at worst draining one batch), so waiters spin, then
/// yield through <see cref="SpinWait"/> so a preempted holder on an oversubscribed machine gets
/// the core back.
/// </remarks>
[LayerInterface]
internal struct RawSpinLock
{
    private int _word;

    public readonly bool IsHeld => Volatile.Read(in _word) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnter() => Interlocked.CompareExchange(ref _word, 1, 0) == 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter()
    {
        if (Interlocked.CompareExchange(ref _word, 1, 0) != 0)
            EnterContended();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterContended()
    {
        var spinner = default(SpinWait);
        while (true)
        {
            // Spin on a plain read so waiters do not bounce the line between cores.
            while (Volatile.Read(ref _word) != 0)
                spinner.SpinOnce();
            if (Interlocked.CompareExchange(ref _word, 1, 0) == 0)
                return;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit() => Volatile.Write(ref _word, 0);
}
