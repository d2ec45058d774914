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
/// <para>The lock is one word: the count of readers inside, and a writer bit that, once a writer
/// asks, keeps new readers out until it has been in and out (writers are preferred, as an rwsem's
/// handoff prefers them). The uncontended read side costs one compare-and-swap to enter and one
/// interlocked decrement to leave, about 5 ns, where <see cref="ReaderWriterLockSlim"/> costs 15: a
/// page fault takes it once. Which locks a thread holds for reading is kept per thread, so
/// <see cref="IsReadHeld"/> answers for the calling thread as the old lock's did. Waiters spin, then
/// yield (<see cref="SpinWait"/>): a writer holds it for a syscall's length at most.</para>
/// </remarks>
public sealed class AddressSpaceLock : IDisposable
{
    private const int WriterBit = 1 << 30;

    private static int s_nextId;

    /// <summary>
    /// The ids of the read locks the current thread holds. A struct, so one thread-local address
    /// computation serves every field (each thread-local access costs a call into the runtime here).
    /// </summary>
    [ThreadStatic]
    private static HeldReadLocks t_held;

    /// <summary>Read locks beyond the two <see cref="HeldReadLocks"/> keeps inline.</summary>
    [ThreadStatic]
    private static List<int>? t_moreHeld;

    private readonly int _id = Interlocked.Increment(ref s_nextId);

    /// <summary>Readers inside, plus <see cref="WriterBit"/> while a writer holds or waits.</summary>
    private int _state;

    /// <summary>The managed thread id of the writer inside; 0 when none.</summary>
    private int _writer;

    /// <summary>True when the calling thread holds the read side.</summary>
    public bool IsReadHeld => t_held.Contains(_id);

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
    public void EnterRead()
    {
        ref HeldReadLocks held = ref t_held;
        if (held.Contains(_id) || IsWriteHeld)
            ThrowRecursion("read");
        int state = Volatile.Read(ref _state);
        if ((state & WriterBit) != 0 || Interlocked.CompareExchange(ref _state, state + 1, state) != state)
            EnterReadContended();
        held.Add(_id);
    }

    /// <summary>Releases the read side.</summary>
    /// <exception cref="SynchronizationLockException">The calling thread does not hold the read side.</exception>
    public void ExitRead()
    {
        if (!t_held.Remove(_id))
            throw new SynchronizationLockException("The calling thread does not hold the address-space lock for reading.");
        Interlocked.Decrement(ref _state);
    }

    /// <summary>Takes the write side (Linux <c>mmap_write_lock</c>): waits for the readers inside to leave, keeping new ones out.</summary>
    /// <exception cref="LockRecursionException">The calling thread already holds the lock in either mode.</exception>
    public void EnterWrite()
    {
        if (IsHeld)
            ThrowRecursion("write");
        var spinner = default(SpinWait);
        while (true)
        {
            int state = Volatile.Read(ref _state);
            if ((state & WriterBit) == 0 && Interlocked.CompareExchange(ref _state, state | WriterBit, state) == state)
                break;
            spinner.SpinOnce();
        }

        spinner.Reset();
        while (Volatile.Read(ref _state) != WriterBit)
            spinner.SpinOnce();
        Volatile.Write(ref _writer, Environment.CurrentManagedThreadId);
    }

    /// <summary>Releases the write side.</summary>
    /// <exception cref="SynchronizationLockException">The calling thread does not hold the write side.</exception>
    public void ExitWrite()
    {
        if (!IsWriteHeld)
            throw new SynchronizationLockException("The calling thread does not hold the address-space lock for writing.");
        Volatile.Write(ref _writer, 0);
        Volatile.Write(ref _state, 0);
    }

    /// <summary>Takes the read side for a <c>using</c> block.</summary>
    public AddressSpaceReadScope Read()
    {
        EnterRead();
        return new AddressSpaceReadScope(this);
    }

    /// <summary>Takes the write side for a <c>using</c> block.</summary>
    public AddressSpaceWriteScope Write()
    {
        EnterWrite();
        return new AddressSpaceWriteScope(this);
    }

    /// <summary>Nothing to release: the lock is one word. Kept so owners can dispose it as they did.</summary>
    public void Dispose()
    {
    }

    private void EnterReadContended()
    {
        var spinner = default(SpinWait);
        while (true)
        {
            int state = Volatile.Read(ref _state);
            if ((state & WriterBit) == 0 && Interlocked.CompareExchange(ref _state, state + 1, state) == state)
                return;
            spinner.SpinOnce();
        }
    }

    /// <summary>
    /// A thread's read locks: two inline slots, and a count of more kept in <see cref="t_moreHeld"/>
    /// (three address spaces at once is rare). Only primitives, so the runtime keeps it with the
    /// thread's non-GC statics, the cheapest kind to reach.
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
}
