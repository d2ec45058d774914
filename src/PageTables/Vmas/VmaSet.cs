using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading;

namespace LargeFolios.PageTables;

/// <summary>
/// The VMAs of one address space (Linux <c>mm->mm_mt</c>, the maple tree of <c>vm_area_struct</c>s):
/// sorted, disjoint, page-aligned ranges of private anonymous memory, each with its flags, changed the
/// way <c>mmap(MAP_FIXED)</c>, <c>munmap</c> and <c>madvise(MADV_[NO]HUGEPAGE)</c> change Linux's, with the
/// same splits and merges, so the fault path above it sees the VMA boundaries Linux would show it.
/// </summary>
/// <remarks>
/// <para><b>Shape.</b> A sorted array searched by bisection: lookups, which every fault makes, cost
/// O(log n); mutations shift the array, O(n), which is cheap at the VMA counts of a process (Linux's
/// default <c>vm.max_map_count</c> is 65530) and keeps the structure simple enough to validate
/// completely.</para>
/// <para><b>Invariants</b>, all checked by <see cref="Validate"/> (and after every mutation in DEBUG_VM
/// builds): every VMA is non-empty, page aligned and below <see cref="VirtualAddress.TaskSize"/>; VMAs
/// are sorted and disjoint; every VMA is anonymous and private, with valid flags; and no two touching
/// VMAs (one's End is the next's Start) have identical flags, because every operation merges such
/// neighbours as Linux's <c>vma_merge</c> does.</para>
/// <para><b>Merge and split rules</b> (Linux 6.18 mm/vma.c):</para>
/// <code>
/// operation      splits                          merges                                  Linux
/// Map            overlapped VMAs at both ends    the new VMA with prev and/or next when  mmap_region: vms_gather_munmap_vmas,
///                (MAP_FIXED unmaps them first)   they touch it and have identical flags  then vma_merge_new_range
/// Unmap          a VMA straddling either end     nothing (the hole separates)            do_vmi_munmap / vms_gather_munmap_vmas
/// ChangeFlags    VMAs straddling either end      each changed piece with prev and next   madvise_update_vma -> vma_modify_flags
///                                                when their flags are now identical      (vma_merge_existing_range, else split)
/// </code>
/// <para>Merging compares flags only. Linux also requires compatible <c>anon_vma</c>s, the same
/// mempolicy, userfaultfd context and anon name, and contiguous <c>vm_pgoff</c>; none is modelled, and
/// the last always holds here because an anonymous private mapping's pgoff is its address in pages
/// (<c>do_mmap</c>) and nothing here moves a VMA. A flag change that leaves a VMA's flags as they were
/// splits nothing in Linux (<c>madvise_update_vma</c> returns early); here the split pieces merge back,
/// which ends in the same VMAs. Linux refuses a split that would take the VMA count past
/// <c>vm.max_map_count</c> (-ENOMEM); the set has no such limit.</para>
/// <para><b>Locking.</b> The set owns its <see cref="AddressSpaceLock"/> (Linux <c>mmap_lock</c>; see its
/// remarks for the roles). Lookups require the caller to hold it in either mode, because a fault uses
/// the VMA it found across its whole page-table walk and the lookup alone cannot keep it valid that
/// long; Debug builds assert this. Mutators take the write side themselves unless the calling thread
/// already holds it; called while holding only the read side they throw
/// <see cref="LockRecursionException"/> before changing anything.</para>
/// <para><b>Errors.</b> Every argument is checked before anything changes, so after any exception the
/// set is exactly as it was: bad ranges throw <see cref="BadAddressException"/> naming the address,
/// bad flags <see cref="ArgumentException"/> naming the flags.</para>
/// </remarks>
[DebuggerDisplay("Count = {_vmas.Count}")]
public sealed partial class VmaSet : IEnumerable<Vma>, IDisposable
{
    private readonly List<Vma> _vmas = [];
    private readonly AddressSpaceLock _lock = new();

    // Bumped by every mutation so an enumeration that outlives one (under a write lock the enumerating
    // thread itself holds) fails instead of skipping or repeating VMAs.
    private int _version;

    /// <summary>The address-space lock guarding this set (Linux <c>mm->mmap_lock</c>).</summary>
    public AddressSpaceLock Lock => _lock;

    /// <summary>How many VMAs there are (Linux <c>mm->map_count</c>). Caller holds the lock.</summary>
    public int Count
    {
        get
        {
            AssertLocked();
            return _vmas.Count;
        }
    }

    // ---------------------------------------------------------------- lookups (caller holds the lock)

    /// <summary>
    /// The VMA containing <paramref name="address"/>, if any (Linux <c>vma_lookup</c>): what a fault asks
    /// first. Any address may be asked about; one outside user space is simply in no VMA.
    /// </summary>
    public bool TryFind(ulong address, out Vma vma)
    {
        AssertLocked();
        int index = FirstEndingAbove(address);
        if (index < _vmas.Count && _vmas[index].Start <= address)
        {
            vma = _vmas[index];
            return true;
        }

        vma = default;
        return false;
    }

    /// <summary>
    /// The first VMA that contains <paramref name="address"/> or lies above it, i.e. whose End is above
    /// it (Linux <c>find_vma</c>): where a walk over a range starts, and how <c>madvise</c> finds the
    /// first VMA of a range that begins in a hole.
    /// </summary>
    public bool TryFindFirstAtOrAbove(ulong address, out Vma vma)
    {
        AssertLocked();
        int index = FirstEndingAbove(address);
        return TryAt(index, out vma);
    }

    /// <summary>
    /// The last VMA lying wholly below <paramref name="address"/> (End &lt;= address): the previous
    /// neighbour of a range starting there (Linux <c>find_vma_prev</c>'s <c>*pprev</c> when nothing
    /// contains the address).
    /// </summary>
    public bool TryFindPrevious(ulong address, out Vma vma)
    {
        AssertLocked();
        return TryAt(FirstEndingAbove(address) - 1, out vma);
    }

    /// <summary>
    /// The first VMA starting at or above <paramref name="address"/>: the next neighbour of a range
    /// ending there (Linux <c>vma_next</c> after the range).
    /// </summary>
    public bool TryFindNext(ulong address, out Vma vma)
    {
        AssertLocked();
        return TryAt(FirstStartingAtOrAbove(address), out vma);
    }

    /// <summary>
    /// Every VMA that overlaps [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>),
    /// whole and in address order (Linux <c>for_each_vma_range</c>): a copy, valid after the lock is dropped.
    /// </summary>
    /// <exception cref="BadAddressException">The range is unaligned, empty, overflowing or beyond user space.</exception>
    public Vma[] FindIntersecting(ulong start, ulong length)
    {
        ulong end = AddressChecks.CheckRange(start, length, "look up VMAs");
        AssertLocked();
        int first = FirstEndingAbove(start);
        int last = first;
        while (last < _vmas.Count && _vmas[last].Start < end)
            last++;
        return CollectionsMarshal.AsSpan(_vmas)[first..last].ToArray();
    }

    /// <summary>
    /// The bounds Linux passes to <c>free_pgtables</c> when it unmaps
    /// [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>): page tables may be
    /// freed between them and no further, because the neighbours' entries live in tables that straddle
    /// the bounds. Floor: the end of the VMA below the range, or 0 (FIRST_USER_ADDRESS) when there is
    /// none. Ceiling: the start of the VMA above the range, or 0 (USER_PGTABLES_CEILING, meaning the top
    /// of the address space) when there is none.
    /// </summary>
    /// <remarks>
    /// Linux computes them in <c>vms_gather_munmap_vmas</c> after splitting, from <c>vms->prev</c> and
    /// <c>vms->next</c>. A VMA straddling a range end is counted as the piece the split leaves outside
    /// (so the bound is the range end itself), which makes the answer the same before and after
    /// <see cref="Unmap"/>.
    /// </remarks>
    /// <exception cref="BadAddressException">The range is unaligned, empty, overflowing or beyond user space.</exception>
    public (ulong Floor, ulong Ceiling) GetFreePgtablesBounds(ulong start, ulong length)
    {
        ulong end = AddressChecks.CheckRange(start, length, "compute free_pgtables bounds");
        AssertLocked();
        int below = FirstStartingAtOrAbove(start) - 1;
        ulong floor = below >= 0 ? Math.Min(_vmas[below].End, start) : 0;
        int above = FirstEndingAbove(end);
        ulong ceiling = above < _vmas.Count ? Math.Max(_vmas[above].Start, end) : 0;
        return (floor, ceiling);
    }

    /// <summary>Every VMA in address order: a copy, valid after the lock is dropped. Caller holds the lock.</summary>
    public Vma[] ToArray()
    {
        AssertLocked();
        return _vmas.ToArray();
    }

    /// <summary>Walks the VMAs in address order (Linux <c>for_each_vma</c>). Caller holds the lock throughout.</summary>
    public Enumerator GetEnumerator()
    {
        AssertLocked();
        return new Enumerator(this);
    }

    IEnumerator<Vma> IEnumerable<Vma>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    // ---------------------------------------------------------------- validation and lifetime

    /// <summary>
    /// Checks every invariant (see the remarks on <see cref="VmaSet"/>), taking the read side of the lock
    /// unless the calling thread holds the lock already.
    /// </summary>
    /// <exception cref="VmaCorruptionException">An invariant is broken; the message names the VMAs.</exception>
    public void Validate()
    {
        bool taken = !_lock.IsHeld;
        if (taken)
            _lock.EnterRead();
        try
        {
            ValidateLocked();
        }
        finally
        {
            if (taken)
                _lock.ExitRead();
        }
    }

    /// <summary>A read-only view of the set, for an owner to hand out (<see cref="VmaView"/>).</summary>
    public VmaView AsReadOnly() => new(this);

    /// <summary>Disposes the lock; no thread may hold it or use the set afterwards.</summary>
    public void Dispose() => _lock.Dispose();

    // ---------------------------------------------------------------- internals

    /// <summary>Index of the first VMA whose End is above <paramref name="address"/> (Linux find_vma's search).</summary>
    private int FirstEndingAbove(ulong address)
    {
        ReadOnlySpan<Vma> vmas = CollectionsMarshal.AsSpan(_vmas);
        int low = 0;
        int high = vmas.Length;
        while (low < high)
        {
            int middle = (int)((uint)(low + high) >> 1);
            if (vmas[middle].End > address)
                high = middle;
            else
                low = middle + 1;
        }

        return low;
    }

    /// <summary>Index of the first VMA whose Start is at or above <paramref name="address"/>.</summary>
    private int FirstStartingAtOrAbove(ulong address)
    {
        ReadOnlySpan<Vma> vmas = CollectionsMarshal.AsSpan(_vmas);
        int low = 0;
        int high = vmas.Length;
        while (low < high)
        {
            int middle = (int)((uint)(low + high) >> 1);
            if (vmas[middle].Start >= address)
                high = middle;
            else
                low = middle + 1;
        }

        return low;
    }

    private bool TryAt(int index, out Vma vma)
    {
        if ((uint)index < (uint)_vmas.Count)
        {
            vma = _vmas[index];
            return true;
        }

        vma = default;
        return false;
    }

    /// <summary>
    /// Takes the write side for a mutator unless this thread holds it already (a caller grouping several
    /// changes). Holding only the read side is refused up front: waiting for the write side would wait
    /// for this thread's own read hold forever.
    /// </summary>
    private bool EnterWriteUnlessHeld(string what, ulong start)
    {
        if (_lock.IsWriteHeld)
            return false;
        if (_lock.IsReadHeld)
        {
            throw new LockRecursionException(
                $"Cannot {what} at 0x{start:x}: the calling thread holds the address-space lock for reading; the change needs the write side, and a reader cannot upgrade (nor can Linux's mmap_lock).");
        }

        _lock.EnterWrite();
        return true;
    }

    private void Mutated()
    {
        _version++;
        DebugCheck();
    }

    [Conditional("DEBUG")]
    private void AssertLocked() =>
        Debug.Assert(_lock.IsHeld, "VMA lookups need the address-space lock (VmaSet.Lock) held for reading or writing.");

    /// <summary>The whole-set check after every mutation, in DEBUG_VM builds (Linux <c>validate_mm</c>).</summary>
    [Conditional("DEBUG_VM")]
    private void DebugCheck() => ValidateLocked();

    private void ValidateLocked()
    {
        ReadOnlySpan<Vma> vmas = CollectionsMarshal.AsSpan(_vmas);
        for (int i = 0; i < vmas.Length; i++)
        {
            Vma vma = vmas[i];
            if (vma.End <= vma.Start)
                Fail(vma, $"VMA {vma} is empty or reversed; expected Start below End");
            if (!VirtualAddress.IsPageAligned(vma.Start) || !VirtualAddress.IsPageAligned(vma.End))
                Fail(vma, $"VMA {vma} is not page aligned; expected both ends to be multiples of 0x1000");
            if (vma.End > VirtualAddress.TaskSize)
                Fail(vma, $"VMA {vma} ends beyond user space; expected End at most TASK_SIZE 0x{VirtualAddress.TaskSize:x}");
            string? invalid = VmaFlagChecks.WhyInvalidInSet(vma.Flags);
            if (invalid != null)
                Fail(vma, $"VMA 0x{vma.Start:x}-0x{vma.End:x} has {invalid}");
            if (i == 0)
                continue;

            Vma previous = vmas[i - 1];
            if (previous.End > vma.Start)
                Fail(vma, $"VMA {vma} overlaps or precedes the VMA before it, {previous}; expected sorted, disjoint VMAs");
            // Every operation that makes or changes a VMA merges it where Linux would, so
            // neighbours that could merge are a bug: except after a fork. dup_mmap never merges, and
            // a VM_WIPEONFORK VMA arrives without its anon_vma, so two that differed in the parent
            // only by theirs may now touch with nothing to tell them apart, as they do in Linux,
            // and keep doing so when their first faults give them one anon_vma (a fault merges
            // nothing).
            if (CanMerge(previous, vma) && !BothWipedByFork(previous, vma))
                Fail(vma, $"VMAs {previous} and {vma} touch and would merge; expected them merged into one");
            if (vma.InheritsAnonVma && vma.AnonVma == 0)
                Fail(vma, $"VMA {vma} inherits an anon_vma it does not have; expected a forked VMA to have one");
        }
    }

    private static void Fail(Vma vma, string message) => throw new VmaCorruptionException(message, vma.Start, vma.End);

    /// <summary>
    /// Walks the VMAs in address order without allocating; throws if the set changes meanwhile (which only
    /// the enumerating thread itself can do, under the write side it holds).
    /// </summary>
    public struct Enumerator : IEnumerator<Vma>
    {
        private readonly VmaSet _set;
        private readonly int _version;
        private int _index;
        private Vma _current;

        internal Enumerator(VmaSet set)
        {
            _set = set;
            _version = set._version;
            _index = 0;
            _current = default;
        }

        /// <summary>The VMA the enumerator is on.</summary>
        public readonly Vma Current => _current;

        readonly object IEnumerator.Current => _current;

        /// <summary>Steps to the next VMA in address order.</summary>
        /// <exception cref="InvalidOperationException">The set changed since the enumeration began.</exception>
        public bool MoveNext()
        {
            if (_version != _set._version)
                throw new InvalidOperationException("The VMA set changed during enumeration; enumerate under the address-space lock and change nothing meanwhile.");
            if (_index >= _set._vmas.Count)
                return false;
            _current = _set._vmas[_index++];
            return true;
        }

        /// <summary>Goes back to before the first VMA.</summary>
        public void Reset()
        {
            _index = 0;
            _current = default;
        }

        /// <summary>Nothing to release.</summary>
        public readonly void Dispose()
        {
        }
    }

    /// <summary>Two VM_WIPEONFORK VMAs: how a fork's child may have mergeable neighbours it never merged (see the validator).</summary>
    private static bool BothWipedByFork(in Vma a, in Vma b) => (a.Flags & b.Flags & VmaFlags.WipeOnFork) != 0;
}
