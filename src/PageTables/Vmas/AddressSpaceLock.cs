using System;
using System.Collections.Generic;
using System.Threading;

namespace LargeFolios.PageTables;

/// <summary>
/// The address-space lock (Linux <c>mm->mmap_lock</c>, a read/write semaphore): many faults walk the
/// VMAs and page tables at once under the read side, while anything that changes which VMAs exist, or
/// their flags, excludes them all under the write side.
/// </summary>
/// <remarks>
/// <para>Who holds it, and how (the model follows Linux's roles; Linux's per-VMA locks, which let most
/// faults skip mmap_lock, are not modelled):</para>
/// <code>
/// role                               mode   Linux                               here
/// page fault                         read   do_user_addr_fault -> lock_mm_and_find_vma
///                                                                               held across the whole walk
/// VMA lookups (find / intersect)     read   find_vma, vma_lookup                VmaSet.TryFind and friends (asserted)
/// mmap (MAP_FIXED, anonymous)        write  vm_mmap_pgoff -> mmap_region        VmaSet.Map
/// munmap                             write  __vm_munmap -> do_vmi_munmap        VmaSet.Unmap
/// madvise MADV_[NO]HUGEPAGE          write  madvise_lock (write for these)      VmaSet.ChangeFlags / Madvise
/// validation                         read   validate_mm (under DEBUG_VM_MAPLE)  VmaSet.Validate
/// </code>
/// <para>Not recursive, as an rwsem is not: a thread holding the read side that asks for the write
/// side would wait for itself forever, so it gets a <see cref="LockRecursionException"/> instead. A
/// <see cref="VmaSet"/> mutator called by the thread that already holds the write side runs under
/// that hold, so a caller can group several changes (an unmap and the page-table zap that must
/// follow it) into one critical section.</para>
/// <para>Built as Linux's percpu-rwsem (the read side of <c>mmap_lock</c> is what every fault
/// takes, so it must not bounce a shared line between cores), with threads for CPUs: each thread
/// whose managed id is below <see cref="Slots"/> owns one 64-byte slot of this lock. A reader
/// stores 1 in its slot, then checks that no writer is pending: no atomic instruction, about
/// 2 ns. A writer sets the pending flag, runs a process-wide memory barrier
/// (<see cref="Interlocked.MemoryBarrierProcessWide"/>: Linux's <c>membarrier</c>, the asymmetric
/// half of the fence a reader leaves out, as percpu-rwsem leaves it to RCU), then waits for every
/// slot to clear: several microseconds, paid by mmap, munmap and madvise only. A pending writer
/// keeps new readers out (writers are preferred, as an rwsem's handoff prefers them). Threads
/// with larger ids share one interlocked counter. A thread's own slot says whether it holds the
/// read side, so <see cref="IsReadHeld"/> answers for the calling thread. Waiters spin, then
/// yield (<see cref="SpinWait"/>).</para>
/// </remarks>
public sealed class AddressSpaceLock : IDisposable
{
    /// <summary>Threads with a managed id below this read through a slot of their own (.NET reuses the ids of threads that ended).</summary>
    private const int Slots = 256;

    /// <summary>Ints per slot: one 64-byte line each, so readers on different cores never share one.</summary>
    private const int SlotStride = 16;

    private static int s_nextId;

    /// <summary>The read locks a thread without a slot holds (see <see cref="HeldReadLocks"/>).</summary>
    [ThreadStatic]
    private static HeldReadLocks t_held;

    /// <summary>Read locks beyond the two <see cref="HeldReadLocks"/> keeps inline.</summary>
    [ThreadStatic]
    private static List<int>? t_moreHeld;

    private readonly int _id = Interlocked.Increment(ref s_nextId);

    /// <summary>Slot <c>t</c> (at <c>(t + 1) * SlotStride</c>, the first line left as padding) is 1 while thread <c>t</c> reads.</summary>
    private readonly int[] _readers = new int[(Slots + 1) * SlotStride];

    /// <summary>Readers inside that have no slot of their own.</summary>
    private int _sharedReaders;

    /// <summary>1 while a writer holds the lock or waits for it.</summary>
    private int _writerPending;

    /// <summary>The managed thread id of the writer inside; 0 when none.</summary>
    private int _writer;

    /// <summary>True when the calling thread holds the read side.</summary>
    public bool IsReadHeld
    {
        get
        {
            int thread = Environment.CurrentManagedThreadId;
            return thread < Slots ? Volatile.Read(ref Slot(thread)) != 0 : t_held.Contains(_id);
        }
    }

    /// <summary>True when the calling thread holds the write side.</summary>
    public bool IsWriteHeld
    {
        get
        {
            int writer = Volatile.Read(ref _writer);
            return writer != 0 && writer == Environment.CurrentManagedThreadId;
        }
    }

    /// <summary>True when the calling thread holds either side.</summary>
    public bool IsHeld => IsReadHeld || IsWriteHeld;

    /// <summary>Takes the read side (Linux <c>mmap_read_lock</c>).</summary>
    /// <exception cref="LockRecursionException">The calling thread already holds the lock in either mode.</exception>
    public void EnterRead() => EnterRead(Environment.CurrentManagedThreadId);

    /// <summary>Releases the read side.</summary>
    /// <exception cref="SynchronizationLockException">The calling thread does not hold the read side.</exception>
    public void ExitRead() => ExitRead(Environment.CurrentManagedThreadId);

    /// <summary>
    /// Takes the read side unless a writer holds it or waits for it (Linux <c>mmap_read_trylock</c>):
    /// what a thread that holds another address space's lock already may ask without risking a
    /// deadlock.
    /// </summary>
    /// <returns>False, holding nothing, when it would have had to wait.</returns>
    /// <exception cref="LockRecursionException">The calling thread already holds the lock in either mode.</exception>
    public bool TryEnterRead()
    {
        int thread = Environment.CurrentManagedThreadId;
        if (Volatile.Read(ref _writer) == thread)
            ThrowRecursion("read");
        if (thread >= Slots)
        {
            if (t_held.Contains(_id))
                ThrowRecursion("read");
            Interlocked.Increment(ref _sharedReaders);
            if (Volatile.Read(ref _writerPending) != 0)
            {
                Interlocked.Decrement(ref _sharedReaders);
                return false;
            }

            t_held.Add(_id);
            return true;
        }

        ref int slot = ref Slot(thread);
        if (slot != 0)
            ThrowRecursion("read");
        Volatile.Write(ref slot, 1);
        if (Volatile.Read(ref _writerPending) == 0)
            return true;
        Volatile.Write(ref slot, 0);
        return false;
    }

    /// <summary>Takes the write side (Linux <c>mmap_write_lock</c>): keeps new readers out, then waits for the readers inside to leave.</summary>
    /// <exception cref="LockRecursionException">The calling thread already holds the lock in either mode.</exception>
    public void EnterWrite()
    {
        if (IsHeld)
            ThrowRecursion("write");
        var spinner = default(SpinWait);
        while (Interlocked.CompareExchange(ref _writerPending, 1, 0) != 0)
            spinner.SpinOnce();

        // Every reader that checked the flag before it was set has its slot visible after this.
        Interlocked.MemoryBarrierProcessWide();
        for (int thread = 0; thread < Slots; thread++)
        {
            spinner.Reset();
            while (Volatile.Read(ref Slot(thread)) != 0)
                spinner.SpinOnce();
        }

        spinner.Reset();
        while (Volatile.Read(ref _sharedReaders) != 0)
            spinner.SpinOnce();
        Volatile.Write(ref _writer, Environment.CurrentManagedThreadId);
    }

    /// <summary>Releases the write side.</summary>
    /// <exception cref="SynchronizationLockException">The calling thread does not hold the write side.</exception>
    public void ExitWrite()
    {
        if (!IsWriteHeld)
            ThrowNotHeld("writing");
        Volatile.Write(ref _writer, 0);
        Volatile.Write(ref _writerPending, 0);
    }

    /// <summary>Takes the read side for a <c>using</c> block (which remembers the thread, so leaving costs no second look-up).</summary>
    public AddressSpaceReadScope Read()
    {
        int thread = Environment.CurrentManagedThreadId;
        EnterRead(thread);
        return new AddressSpaceReadScope(this, thread);
    }

    /// <summary><see cref="EnterRead()"/> for the thread with managed id <paramref name="thread"/>, the caller.</summary>
    internal void EnterRead(int thread)
    {
        if (Volatile.Read(ref _writer) == thread)
            ThrowRecursion("read");
        if (thread >= Slots)
        {
            EnterReadShared();
            return;
        }

        ref int slot = ref Slot(thread);
        if (slot != 0)
            ThrowRecursion("read");
        while (true)
        {
            Volatile.Write(ref slot, 1);

            // The reader's half of the fence: a writer that set its flag before its process-wide
            // barrier either sees this slot set after the barrier, or is seen here.
            if (Volatile.Read(ref _writerPending) == 0)
                return;
            Volatile.Write(ref slot, 0);
            WaitForWriter();
        }
    }

    /// <summary><see cref="ExitRead()"/> for the thread with managed id <paramref name="thread"/>, the caller.</summary>
    internal void ExitRead(int thread)
    {
        if (thread >= Slots)
        {
            ExitReadShared();
            return;
        }

        ref int slot = ref Slot(thread);
        if (slot == 0)
            ThrowNotHeld("reading");
        Volatile.Write(ref slot, 0);
    }

    /// <summary>Takes the write side for a <c>using</c> block.</summary>
    public AddressSpaceWriteScope Write()
    {
        EnterWrite();
        return new AddressSpaceWriteScope(this);
    }

    /// <summary>Nothing to release: the lock holds no handle. Kept so owners can dispose it as they did.</summary>
    public void Dispose()
    {
    }

    private ref int Slot(int thread) => ref _readers[(thread + 1) * SlotStride];

    private void WaitForWriter()
    {
        var spinner = default(SpinWait);
        while (Volatile.Read(ref _writerPending) != 0)
            spinner.SpinOnce();
    }

    private void EnterReadShared()
    {
        if (t_held.Contains(_id))
            ThrowRecursion("read");
        while (true)
        {
            // Interlocked is a full fence: the writer's barrier is not needed to see this count.
            Interlocked.Increment(ref _sharedReaders);
            if (Volatile.Read(ref _writerPending) == 0)
                break;
            Interlocked.Decrement(ref _sharedReaders);
            WaitForWriter();
        }

        t_held.Add(_id);
    }

    private void ExitReadShared()
    {
        if (!t_held.Remove(_id))
            ThrowNotHeld("reading");
        Interlocked.Decrement(ref _sharedReaders);
    }

    /// <summary>
    /// The read locks held by a thread without a slot: two inline, a count of more kept in
    /// <see cref="t_moreHeld"/>. Only primitives, so the runtime keeps it with the thread's non-GC
    /// statics, the cheapest kind to reach.
    /// </summary>
    private struct HeldReadLocks
    {
        private int _first;
        private int _second;
        private int _more;

        public readonly bool Contains(int id) => _first == id || _second == id || (_more != 0 && t_moreHeld!.Contains(id));

        public void Add(int id)
        {
            if (_first == 0)
            {
                _first = id;
            }
            else if (_second == 0)
            {
                _second = id;
            }
            else
            {
                (t_moreHeld ??= []).Add(id);
                _more++;
            }
        }

        public bool Remove(int id)
        {
            if (_first == id)
                _first = 0;
            else if (_second == id)
                _second = 0;
            else if (_more != 0 && t_moreHeld!.Remove(id))
                _more--;
            else
                return false;
            return true;
        }
    }

    private static void ThrowRecursion(string mode) =>
        throw new LockRecursionException($"The calling thread already holds the address-space lock; it cannot take it again for {mode} (an rwsem is not recursive).");

    private static void ThrowNotHeld(string mode) =>
        throw new SynchronizationLockException($"The calling thread does not hold the address-space lock for {mode}.");
}
