using System;
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
/// <para>Not recursive (<see cref="LockRecursionPolicy.NoRecursion"/>), as an rwsem is not: a thread
/// holding the read side that asks for the write side would wait for itself forever, so it gets a
/// <see cref="LockRecursionException"/> instead. A <see cref="VmaSet"/> mutator called by the thread
/// that already holds the write side runs under that hold, so a caller can group several changes
/// (an unmap and the page-table zap that must follow it) into one critical section.</para>
/// </remarks>
public sealed class AddressSpaceLock : IDisposable
{
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);

    /// <summary>Whether the calling thread holds the read side (Linux <c>mmap_assert_locked</c> for a reader).</summary>
    public bool IsReadHeld => _lock.IsReadLockHeld;

    /// <summary>Whether the calling thread holds the write side (Linux <c>mmap_assert_write_locked</c>).</summary>
    public bool IsWriteHeld => _lock.IsWriteLockHeld;

    /// <summary>Whether the calling thread holds either side: what a lookup needs.</summary>
    public bool IsHeld => _lock.IsReadLockHeld || _lock.IsWriteLockHeld;

    /// <summary>Takes the read side, waiting for any writer (Linux <c>mmap_read_lock</c>).</summary>
    /// <exception cref="LockRecursionException">The calling thread already holds the lock in either mode.</exception>
    public void EnterRead() => _lock.EnterReadLock();

    /// <summary>Releases the read side (Linux <c>mmap_read_unlock</c>).</summary>
    /// <exception cref="SynchronizationLockException">The calling thread does not hold the read side.</exception>
    public void ExitRead() => _lock.ExitReadLock();

    /// <summary>Takes the write side, waiting for every reader and writer to leave (Linux <c>mmap_write_lock</c>).</summary>
    /// <exception cref="LockRecursionException">The calling thread already holds the lock in either mode.</exception>
    public void EnterWrite() => _lock.EnterWriteLock();

    /// <summary>Releases the write side (Linux <c>mmap_write_unlock</c>).</summary>
    /// <exception cref="SynchronizationLockException">The calling thread does not hold the write side.</exception>
    public void ExitWrite() => _lock.ExitWriteLock();

    /// <summary>Takes the read side for a <c>using</c> block, so an exception inside cannot leak the hold.</summary>
    public AddressSpaceReadScope Read()
    {
        EnterRead();
        return new AddressSpaceReadScope(this);
    }

    /// <summary>Takes the write side for a <c>using</c> block, so an exception inside cannot leak the hold.</summary>
    public AddressSpaceWriteScope Write()
    {
        EnterWrite();
        return new AddressSpaceWriteScope(this);
    }

    /// <summary>Releases the underlying lock; no thread may hold it or wait for it.</summary>
    public void Dispose() => _lock.Dispose();
}
