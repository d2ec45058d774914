using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// The set's mutators: mmap (<see cref="Map"/>), munmap (<see cref="Unmap"/>), the flag changes of
/// madvise (<see cref="ChangeFlags(ulong, ulong, VmaFlags, VmaFlags)"/>) and mprotect
/// (<see cref="Protect"/>). Each takes the write side of the lock unless the caller holds it, checks
/// everything that can fail before it changes anything, splits VMAs only where their flags change
/// (telling an <see cref="IVmaSplitHook"/> first) and merges what the change made mergeable
/// (<see cref="CanMerge"/>).
/// </summary>
/// <remarks>
/// <code>
/// operation      splits                          merges                                  Linux
/// Map            overlapped VMAs at both ends    the new VMA with prev and/or next       mmap_region: vms_gather_munmap_vmas,
///                (MAP_FIXED unmaps them first)                                           then vma_merge_new_range
/// Unmap          a VMA straddling either end     nothing (the hole separates)            do_vmi_munmap / vms_gather_munmap_vmas
/// ChangeFlags    a changed VMA at the range's    each changed piece with prev and next   madvise_update_vma -> vma_modify_flags
///                ends (unchanged VMAs: nothing)
/// Protect        as ChangeFlags, up to a hole    as ChangeFlags                          mprotect_fixup -> vma_modify_flags
/// </code>
/// </remarks>
public sealed partial class VmaSet
{
    /// <summary>
    /// <c>mmap(start, length, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS)</c>: unmaps whatever overlapped
    /// the range (splitting VMAs that straddle its ends), inserts a new anonymous VMA with
    /// <paramref name="flags"/> | <see cref="VmaFlags.Anonymous"/> (and <see cref="VmaFlags.Account"/>
    /// when it is writable, Linux <c>accountable_mapping</c>), its page offset its address in pages and
    /// no anon_vma, and merges it with a neighbour where they merge (Linux <c>mmap_region</c>).
    /// </summary>
    /// <remarks>
    /// <paramref name="flags"/> may include HugePage, NoHugePage, DontCopy or WipeOnFork, which <c>mmap</c>
    /// itself cannot set (only a following <c>madvise</c> can): the shorthand for a mapping and its advice.
    /// </remarks>
    /// <returns>
    /// The pieces that were replaced, in address order, clipped to the range and with their old flags,
    /// so the caller can zap their page tables; empty when the range was unmapped.
    /// </returns>
    /// <exception cref="BadAddressException">The range is unaligned, empty, overflowing or beyond user space.</exception>
    /// <exception cref="ArgumentException"><paramref name="flags"/> hold Shared, unknown bits, or both HugePage and NoHugePage.</exception>
    /// <exception cref="LockRecursionException">The calling thread holds only the read side of <see cref="Lock"/>.</exception>
    public IReadOnlyList<Vma> Map(ulong start, ulong length, VmaFlags flags)
    {
        var none = default(NoVmaSplitHook);
        return Map(start, length, flags, ref none);
    }

    /// <summary><see cref="Map(ulong, ulong, VmaFlags)"/>, telling <paramref name="hook"/> of each split first.</summary>
    public IReadOnlyList<Vma> Map<THook>(ulong start, ulong length, VmaFlags flags, ref THook hook)
        where THook : struct, IVmaSplitHook
    {
        const string What = "mmap";
        ulong end = AddressChecks.CheckRange(start, length, What);
        VmaFlagChecks.CheckMapFlags(flags, start, What, nameof(flags));
        bool taken = EnterWriteUnlessHeld(What, start);
        try
        {
            var removed = new List<Vma>();
            int index = RemoveRange(start, end, removed, ref hook);
            VmaFlags mapped = flags | VmaFlags.Anonymous | ((flags & VmaFlags.Write) != 0 ? VmaFlags.Account : 0);
            _vmas.Insert(index, Vma.Unchecked(start, end, mapped));
            MergeAround(index);
            Mutated();
            return removed;
        }
        finally
        {
            if (taken)
                _lock.ExitWrite();
        }
    }

    /// <summary>
    /// <c>munmap(start, length)</c>: removes every mapped page of the range, splitting a VMA that
    /// straddles either end. A range with nothing mapped is not an error, as <c>munmap</c> succeeds on
    /// one; the neighbours are not merged, because the hole now separates them.
    /// </summary>
    /// <returns>The removed pieces in address order, clipped to the range, for the caller to zap.</returns>
    /// <exception cref="BadAddressException">The range is unaligned, empty, overflowing or beyond user space.</exception>
    /// <exception cref="LockRecursionException">The calling thread holds only the read side of <see cref="Lock"/>.</exception>
    public IReadOnlyList<Vma> Unmap(ulong start, ulong length)
    {
        var none = default(NoVmaSplitHook);
        return Unmap(start, length, ref none);
    }

    /// <summary><see cref="Unmap(ulong, ulong)"/>, telling <paramref name="hook"/> of each split first.</summary>
    public IReadOnlyList<Vma> Unmap<THook>(ulong start, ulong length, ref THook hook)
        where THook : struct, IVmaSplitHook
    {
        const string What = "munmap";
        ulong end = AddressChecks.CheckRange(start, length, What);
        bool taken = EnterWriteUnlessHeld(What, start);
        try
        {
            var removed = new List<Vma>();
            RemoveRange(start, end, removed, ref hook);
            Mutated();
            return removed;
        }
        finally
        {
            if (taken)
                _lock.ExitWrite();
        }
    }

    /// <summary>
    /// Changes the flags of every mapped page in the range as <c>madvise</c> does: each VMA's flags
    /// become (flags &amp; ~<paramref name="clear"/>) | <paramref name="set"/>; a VMA whose flags that
    /// leaves as they were is not touched; one that changes is split where the range cuts it, and the
    /// changed piece merges with its neighbours where they merge (Linux <c>madvise_update_vma</c> ->
    /// <c>vma_modify_flags</c>).
    /// </summary>
    /// <remarks>
    /// Holes follow <c>madvise_walk_vmas</c>: the mapped parts are changed and the call reports the
    /// holes, as Linux's <c>-ENOMEM</c> after applying, by returning false; a range with nothing mapped
    /// changes nothing and throws, as Linux returns <c>-ENOMEM</c> having done nothing. Only the
    /// <see cref="VmaFlagChecks.Changeable"/> bits can change; the result for each VMA is checked
    /// before any is changed.
    /// </remarks>
    /// <returns>True when the whole range was mapped; false when it had holes (Linux's -ENOMEM).</returns>
    /// <exception cref="BadAddressException">The range is unaligned, empty, overflowing, beyond user space, or has nothing mapped (<see cref="Errno.ENOMEM"/>).</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="set"/> or <paramref name="clear"/> name a bit that cannot change, name the same bit,
    /// or would leave some VMA with both HugePage and NoHugePage.
    /// </exception>
    /// <exception cref="LockRecursionException">The calling thread holds only the read side of <see cref="Lock"/>.</exception>
    public bool ChangeFlags(ulong start, ulong length, VmaFlags set, VmaFlags clear)
    {
        var none = default(NoVmaSplitHook);
        return ChangeFlags(start, length, set, clear, ref none, "change VMA flags");
    }

    /// <summary><see cref="ChangeFlags(ulong, ulong, VmaFlags, VmaFlags)"/>, telling <paramref name="hook"/> of each split first; <paramref name="what"/> names the call in errors.</summary>
    public bool ChangeFlags<THook>(ulong start, ulong length, VmaFlags set, VmaFlags clear, ref THook hook, string what)
        where THook : struct, IVmaSplitHook
    {
        ArgumentNullException.ThrowIfNull(what);
        ulong end = AddressChecks.CheckRange(start, length, what);
        VmaFlagChecks.CheckChange(set, clear, start, what);
        bool taken = EnterWriteUnlessHeld(what, start);
        try
        {
            // Everything that can fail is checked on the untouched VMAs first.
            int first = FirstEndingAbove(start);
            ulong mapped = 0;
            for (int i = first; i < _vmas.Count && _vmas[i].Start < end; i++)
            {
                Vma vma = _vmas[i];
                string? invalid = VmaFlagChecks.WhyInvalidInSet(VmaFlagChecks.Apply(vma.Flags, set, clear));
                if (invalid != null)
                    VmaFlagChecks.Throw($"Cannot {what} at 0x{start:x}: the VMA 0x{vma.Start:x}-0x{vma.End:x} would end with {invalid}.", nameof(set));
                mapped += Math.Min(vma.End, end) - Math.Max(vma.Start, start);
            }

            if (mapped == 0)
            {
                throw new BadAddressException(
                    $"Cannot {what} at 0x{start:x}..0x{end:x}: nothing is mapped in the range; expected at least one VMA there (Linux returns -ENOMEM).",
                    start,
                    length,
                    Errno.ENOMEM);
            }

            for (int i = first; i < _vmas.Count && _vmas[i].Start < end; i++)
                i = ChangeOne(i, start, end, VmaFlagChecks.Apply(_vmas[i].Flags, set, clear), ref hook);
            Mutated();
            return mapped == length;
        }
        finally
        {
            if (taken)
                _lock.ExitWrite();
        }
    }

    /// <summary>
    /// <c>madvise(start, length, MADV_HUGEPAGE)</c> when <paramref name="hugePage"/> is true (sets HugePage,
    /// clears NoHugePage), <c>MADV_NOHUGEPAGE</c> when false (the reverse), as Linux's
    /// <c>hugepage_madvise</c> rewrites the flags; the splits, merges, holes and errors of
    /// <see cref="ChangeFlags(ulong, ulong, VmaFlags, VmaFlags)"/>.
    /// </summary>
    /// <returns>True when the whole range was mapped; false when it had holes (Linux's -ENOMEM).</returns>
    /// <exception cref="BadAddressException">The range is unaligned, empty, overflowing, beyond user space, or has nothing mapped.</exception>
    /// <exception cref="LockRecursionException">The calling thread holds only the read side of <see cref="Lock"/>.</exception>
    public bool Madvise(ulong start, ulong length, bool hugePage)
    {
        var none = default(NoVmaSplitHook);
        return hugePage
            ? ChangeFlags(start, length, VmaFlags.HugePage, VmaFlags.NoHugePage, ref none, "madvise(MADV_HUGEPAGE)")
            : ChangeFlags(start, length, VmaFlags.NoHugePage, VmaFlags.HugePage, ref none, "madvise(MADV_NOHUGEPAGE)");
    }

    /// <summary><see cref="Protect{THook}"/> with no split hook and no record of the changed pieces.</summary>
    /// <returns>True when the range was mapped to its end; false when a hole stopped it (Linux's -ENOMEM after the changes).</returns>
    /// <exception cref="BadAddressException">The range starts in a hole (Linux -ENOMEM; nothing changed), or is unaligned or overflowing.</exception>
    public bool Protect(ulong start, ulong length, VmaFlags access)
    {
        var none = default(NoVmaSplitHook);
        return Protect(start, length, access, ref none, []);
    }

    /// <summary>
    /// <c>mprotect(start, length, prot)</c>'s VMA side (Linux <c>do_mprotect_pkey</c>, <c>mprotect_fixup</c>):
    /// from the VMA holding <paramref name="start"/>, each VMA's access bits become
    /// <paramref name="access"/> (Read, Write, Exec), with VM_ACCOUNT added when a VMA without it or
    /// VM_WRITE becomes writable and dropped when one becomes read-only before any folio was allocated
    /// in it; VMAs are split and merged as <see cref="ChangeFlags(ulong, ulong, VmaFlags, VmaFlags)"/>
    /// does. A hole ends the walk: what came before it stays changed.
    /// </summary>
    /// <param name="start">Page-aligned start.</param>
    /// <param name="length">Page-aligned, non-zero length.</param>
    /// <param name="access">The new access bits.</param>
    /// <param name="hook">Told of each split first.</param>
    /// <param name="changed">Receives each changed piece, in address order, with its new flags: where the page tables change (<c>change_protection</c>).</param>
    /// <param name="chargeLimitPages">The most pages one VMA may newly charge (VM_ACCOUNT added): Linux's heuristic overcommit refuses a charge larger than the machine's memory.</param>
    /// <returns>True when the range was mapped to its end; false when a hole stopped it (Linux's -ENOMEM after the changes).</returns>
    /// <exception cref="BadAddressException">The range starts in a hole (Linux -ENOMEM; nothing changed), or is unaligned or overflowing; or a VMA's charge is over <paramref name="chargeLimitPages"/> (Linux -ENOMEM, the VMAs before it changed and in <paramref name="changed"/>).</exception>
    public bool Protect<THook>(ulong start, ulong length, VmaFlags access, ref THook hook, List<Vma> changed, ulong chargeLimitPages = ulong.MaxValue)
        where THook : struct, IVmaSplitHook
    {
        const string What = "mprotect";
        ArgumentNullException.ThrowIfNull(changed);
        if ((access & ~VmaFlagChecks.Access) != 0)
            VmaFlagChecks.Throw($"Cannot {What} at 0x{start:x}: {VmaFlagChecks.Describe(access)} are not access bits; expected Read, Write and Exec only.", nameof(access));
        ulong end = start + length;
        if (!VirtualAddress.IsPageAligned(start) || !VirtualAddress.IsPageAligned(length) || length == 0 || end < start)
            AddressChecks.Throw($"Cannot {What} at 0x{start:x}: expected a page-aligned, non-empty range (length 0x{length:x}).", start, length);
        bool taken = EnterWriteUnlessHeld(What, start);
        try
        {
            int index = FirstEndingAbove(start);
            if (index >= _vmas.Count || _vmas[index].Start >= end || _vmas[index].Start > start)
            {
                throw new BadAddressException(
                    $"Cannot {What} at 0x{start:x}..0x{end:x}: the range starts in a hole; expected a VMA at 0x{start:x} (Linux returns -ENOMEM).",
                    start,
                    length,
                    Errno.ENOMEM);
            }

            ulong reached = _vmas[index].Start;
            for (; index < _vmas.Count && _vmas[index].Start < end; index++)
            {
                Vma vma = _vmas[index];
                if (vma.Start != reached)
                    break;
                VmaFlags flags = ProtectedFlags(vma, access);
                ulong from = Math.Max(vma.Start, start);
                ulong to = Math.Min(vma.End, end);
                reached = vma.End;
                if (flags == vma.Flags)
                    continue;
                ulong pages = (to - from) >> PageGeometry.PageShift;
                if ((vma.Flags & VmaFlags.Account) == 0 && (flags & VmaFlags.Account) != 0 && pages > chargeLimitPages)
                {
                    Mutated();
                    throw new BadAddressException(
                        $"Cannot {What} 0x{from:x}..0x{to:x} writable: its {pages} pages are more than the machine's {chargeLimitPages} (heuristic overcommit; Linux returns -ENOMEM, the VMAs before it changed).",
                        from,
                        to - from,
                        Errno.ENOMEM);
                }

                index = ChangeOne(index, start, end, flags, ref hook);
                reached = _vmas[index].End;
                changed.Add(Vma.Unchecked(from, to, flags));
            }

            Mutated();
            return reached >= end;
        }
        finally
        {
            if (taken)
                _lock.ExitWrite();
        }
    }

    /// <summary>
    /// A VMA's flags after mprotect to <paramref name="access"/> (Linux <c>mprotect_fixup</c>): the
    /// access bits replaced; VM_ACCOUNT added when it becomes writable having had neither it nor
    /// VM_WRITE, dropped when it stops being writable before its first folio (no anon_vma yet). The
    /// VMA's own flags when the access bits do not change (nothing else is touched then).
    /// </summary>
    private static VmaFlags ProtectedFlags(in Vma vma, VmaFlags access)
    {
        VmaFlags old = vma.Flags;
        VmaFlags flags = access | (old & ~VmaFlagChecks.Access);
        if (flags == old)
            return old;
        if ((flags & VmaFlags.Write) != 0)
        {
            if ((old & (VmaFlags.Account | VmaFlags.Write)) == 0)
                flags |= VmaFlags.Account;
        }
        else if ((old & VmaFlags.Account) != 0 && vma.AnonVma == 0)
        {
            flags &= ~VmaFlags.Account;
        }

        return flags;
    }

    /// <summary>
    /// Gives the VMA at <paramref name="index"/> <paramref name="flags"/> over its part of
    /// [<paramref name="start"/>, <paramref name="end"/>), splitting it where the range cuts it, then
    /// merges the changed piece with its neighbours where they merge.
    /// </summary>
    /// <returns>The index of the VMA that now holds the changed piece.</returns>
    private int ChangeOne<THook>(int index, ulong start, ulong end, VmaFlags flags, ref THook hook)
        where THook : struct, IVmaSplitHook
    {
        if (flags == _vmas[index].Flags)
            return index;
        if (_vmas[index].Start < start)
            index = SplitAt(index, start, ref hook) + 1;
        if (_vmas[index].End > end)
            SplitAt(index, end, ref hook);
        _vmas[index] = _vmas[index].WithFlags(flags);
        return MergeAround(index);
    }

    /// <summary>
    /// Linux <c>dup_mmap</c>'s copy of one VMA into a new address space: appended above every VMA the
    /// set holds, as it stands, merged with nothing (a fork copies the parent's VMAs one by one, in
    /// address order). The caller holds the write side.
    /// </summary>
    [LargeFolios.BuddyAllocator.LayerInterface]
    internal void AppendForFork(Vma vma)
    {
        Debug.Assert(_lock.IsWriteHeld, "a fork copies VMAs under the new address space's write lock");
        Debug.Assert(_vmas.Count == 0 || _vmas[^1].End <= vma.Start, "a fork copies VMAs in address order");
        _vmas.Add(vma);
        Mutated();
    }

    /// <summary>Linux <c>__split_vma</c>: the VMA at <paramref name="index"/> becomes two at <paramref name="address"/>, the hook told first.</summary>
    /// <returns>The index of the lower piece (the upper is right after it).</returns>
    private int SplitAt<THook>(int index, ulong address, ref THook hook)
        where THook : struct, IVmaSplitHook
    {
        Vma vma = _vmas[index];
        hook.BeforeSplit(vma, address);
        _vmas[index] = vma.Slice(vma.Start, address);
        _vmas.Insert(index + 1, vma.Slice(address, vma.End));
        return index;
    }

    /// <summary>
    /// Removes [<paramref name="start"/>, <paramref name="end"/>) from the set, leaving the outer pieces of
    /// VMAs that straddle its ends, and appends what it removed to <paramref name="removed"/>. Returns the
    /// index at which a VMA covering the range now belongs.
    /// </summary>
    private int RemoveRange<THook>(ulong start, ulong end, List<Vma> removed, ref THook hook)
        where THook : struct, IVmaSplitHook
    {
        int first = FirstEndingAbove(start);
        if (first < _vmas.Count && _vmas[first].Start < start && _vmas[first].End > start)
            first = SplitAt(first, start, ref hook) + 1;
        int last = first;
        while (last < _vmas.Count && _vmas[last].Start < end)
            last++;
        if (last > first && _vmas[last - 1].End > end)
            SplitAt(last - 1, end, ref hook);
        for (int i = first; i < last; i++)
            removed.Add(_vmas[i]);
        _vmas.RemoveRange(first, last - first);
        return first;
    }
}
