using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>mremap (Linux 6.18 mm/mremap.c: <c>do_mremap</c>, <c>check_prep_vma</c>, <c>move_vma</c>, <c>move_page_tables</c>, <c>remap_move</c>).</summary>
public sealed unsafe partial class AddressSpace
{
    private const ulong PudSize = 1UL << VirtualAddress.PudShift;

    /// <summary>
    /// <c>mremap(old, oldLength, newLength, 0)</c> when <paramref name="newAddress"/> is null (resize in
    /// place, never move), else <c>mremap(..., MREMAP_MAYMOVE | MREMAP_FIXED, newAddress)</c>.
    /// <list type="bullet">
    /// <item>Checks in Linux's order (<c>check_mremap_params</c>): an unaligned old address, a zero or
    /// too long new length, and for a move a new range past user space, an unaligned new address or
    /// ranges that overlap are EINVAL.</item>
    /// <item>In place: the same length does nothing; a shrink unmaps the tail (across whatever is
    /// there); a grow needs the old range inside one VMA (else EFAULT), ending where the VMA ends, with
    /// the room after it free (else ENOMEM), and extends the VMA, merging with the next one where they
    /// now meet and merge.</item>
    /// <item>A move unmaps the destination first; a shrink then unmaps the source's tail. The
    /// destination VMA takes the source's flags and anon_vma, and its page offset (a VMA that never had
    /// an allocating fault takes the destination's), merging with neighbours where they match; then the
    /// page tables move (<see cref="MovePageTables"/>): whole PMD tables where both sides are 1 GiB
    /// aligned, whole PTE tables and PMD leaves where they are 2 MiB aligned, PTE by PTE otherwise, a
    /// PMD leaf split first where it cannot move whole. No folio is split or re-indexed: a large folio
    /// may end up at an address not aligned to its size, or in two places. A move of the same length
    /// moves every VMA of the range, keeping the holes between them (<c>remap_move</c>).</item>
    /// </list>
    /// </summary>
    /// <returns>Where the mapping now starts: <paramref name="oldAddress"/> in place, <paramref name="newAddress"/> for a move.</returns>
    /// <exception cref="BadAddressException">EINVAL, EFAULT or ENOMEM as above (<see cref="BadAddressException.Errno"/>); what a failure found changed stays as Linux leaves it.</exception>
    public ulong Mremap(ulong oldAddress, ulong oldLength, ulong newLength, ulong? newAddress)
    {
        ThrowIfDisposed();
        ulong oldLen = SyscallChecks.Align(oldLength);
        ulong newLen = SyscallChecks.Align(newLength);
        bool move = newAddress.HasValue;
        ulong to = newAddress ?? oldAddress;
        if (!VirtualAddress.IsPageAligned(oldAddress))
            Refuse(oldAddress, Errno.EINVAL, "the old address is not page aligned; expected a multiple of 0x1000");
        if (newLen == 0)
            Refuse(oldAddress, Errno.EINVAL, "the new length is zero (or overflows when rounded up to pages)");
        if (newLen > VirtualAddress.TaskSize)
            Refuse(oldAddress, Errno.EINVAL, $"the new length 0x{newLen:x} is beyond user space");
        if (move)
        {
            if (to > VirtualAddress.TaskSize - newLen)
                Refuse(oldAddress, Errno.EINVAL, $"the new range 0x{to:x}..+0x{newLen:x} ends beyond user space");
            if (!VirtualAddress.IsPageAligned(to))
                Refuse(oldAddress, Errno.EINVAL, $"the new address 0x{to:x} is not page aligned");
            if (unchecked(oldAddress + oldLen) > to && unchecked(to + newLen) > oldAddress)
                Refuse(oldAddress, Errno.EINVAL, $"the old range 0x{oldAddress:x}..+0x{oldLen:x} and the new one 0x{to:x}..+0x{newLen:x} overlap");
        }

        using AddressSpaceWriteScope scope = _vmas.Lock.Write();
        ThrowIfDisposedLocked();
        if (move && oldLen == newLen)
        {
            RemapMoveLocked(oldAddress, oldLen, to);
            return to;
        }

        if (!_vmas.TryFind(oldAddress, out Vma vma))
            Refuse(oldAddress, Errno.EFAULT, "no VMA holds the old address");
        if (!move)
        {
            if (newLen == oldLen)
                return oldAddress;
            if (newLen < oldLen)
            {
                ulong tail = SyscallChecks.Munmap(oldAddress + newLen, oldLen - newLen);
                UnmapRegionLocked(oldAddress + newLen, tail, mapWith: null);
                return oldAddress;
            }
        }

        if (oldLen == 0)
            Refuse(oldAddress, Errno.EINVAL, "the old length is zero: a private mapping cannot be duplicated");
        ulong kept = newLen < oldLen ? newLen : oldLen;
        if (kept > vma.End - oldAddress)
            Refuse(oldAddress, Errno.EFAULT, $"0x{oldAddress:x}..+0x{kept:x} is not inside one VMA (0x{vma.Start:x}..0x{vma.End:x})");
        if (!move)
        {
            GrowInPlaceLocked(vma, oldAddress, oldLen, newLen);
            return oldAddress;
        }

        UnmapRegionLocked(to, to + newLen, mapWith: null);
        if (newLen < oldLen)
        {
            ulong tail = SyscallChecks.Munmap(oldAddress + newLen, oldLen - newLen);
            UnmapRegionLocked(oldAddress + newLen, tail, mapWith: null);
            oldLen = newLen;
        }

        if ((vma.Flags & VmaFlags.Account) != 0 && newLen > oldLen)
            CheckChargeLocked("mremap", oldAddress, (newLen - oldLen) >> PageGeometry.PageShift);   // vrm_calc_charge: the growth
        MoveVmaLocked(oldAddress, oldLen, to, newLen);
        return to;
    }

    /// <summary>
    /// <c>expand_vma</c> without MREMAP_MAYMOVE: the old range must end where its VMA ends and the room
    /// after it must be free and inside user space (else ENOMEM, nothing changed); the VMA grows.
    /// </summary>
    private void GrowInPlaceLocked(in Vma vma, ulong oldAddress, ulong oldLen, ulong newLen)
    {
        ulong delta = newLen - oldLen;
        ulong newEnd = vma.End + delta;
        bool roomy = oldAddress + oldLen == vma.End && newEnd > vma.End && newEnd <= VirtualAddress.TaskSize
            && !(_vmas.TryFindFirstAtOrAbove(vma.End, out Vma next) && next.Start < newEnd);
        if (!roomy)
            Refuse(oldAddress, Errno.ENOMEM, $"0x{oldAddress:x}..+0x{oldLen:x} cannot grow to 0x{newLen:x} in place (the VMA 0x{vma.Start:x}..0x{vma.End:x} would have to end at 0x{newEnd:x}, and something is mapped there or the range is not at its end) and may not move");
        if ((vma.Flags & VmaFlags.Account) != 0)
            CheckChargeLocked("mremap", oldAddress, delta >> PageGeometry.PageShift);
        _vmas.ExpandInPlace(vma.Start, newEnd);
    }

    /// <summary>
    /// <c>remap_move</c>: a move of the same length takes every VMA of [<paramref name="oldAddress"/>,
    /// +<paramref name="length"/>), each to the same offset from <paramref name="to"/>, unmapping only
    /// each piece's own destination (what lies opposite a hole survives). The range must start in a
    /// VMA (EFAULT, nothing changed).
    /// </summary>
    private void RemapMoveLocked(ulong oldAddress, ulong length, ulong to)
    {
        ulong end = oldAddress + length;
        Vma[] pieces = length == 0 || end < oldAddress || end > VirtualAddress.TaskSize
            ? []
            : _vmas.FindIntersecting(oldAddress, length);
        if (pieces.Length == 0 || pieces[0].Start > oldAddress)
            Refuse(oldAddress, Errno.EFAULT, "the range does not start in a VMA");
        ulong target = to;
        for (int i = 0; i < pieces.Length; i++)
        {
            ulong from = Math.Max(pieces[i].Start, oldAddress);
            ulong size = Math.Min(end, pieces[i].End) - from;
            if (i > 0)
                target += pieces[i].Start - pieces[i - 1].End;
            UnmapRegionLocked(target, target + size, mapWith: null);
            MoveVmaLocked(from, size, target, size);
            target += size;
        }
    }

    /// <summary>
    /// <c>move_vma</c>: the destination VMA made (<c>copy_vma</c>), the page tables of the first
    /// <paramref name="oldLen"/> bytes moved to it, the source range unmapped (its tables freed where
    /// no VMA needs them). RSS and every folio's counts stay as they were.
    /// </summary>
    private void MoveVmaLocked(ulong oldAddress, ulong oldLen, ulong to, ulong newLen)
    {
        _vmas.TryFind(oldAddress, out Vma source);
        ulong pageOffset = source.AnonVma == 0 ? to >> PageGeometry.PageShift : source.PageIndexOf(oldAddress);
        Vma moved = _vmas.InsertMoved(Vma.Unchecked(to, to + newLen, source.Flags, pageOffset, source.AnonVma, source.InheritsAnonVma));
        MovePageTables(source, moved, oldAddress, to, oldLen);
        UnmapRegionLocked(oldAddress, oldAddress + oldLen, mapWith: null);
    }

    /// <summary>
    /// Linux <c>move_page_tables</c> from [<paramref name="from"/>, +<paramref name="length"/>) to
    /// <paramref name="to"/>, in chunks bounded by the next 1 GiB and 2 MiB boundaries of both sides:
    /// a whole PMD table where a chunk is 1 GiB on both sides, a whole PTE table or PMD leaf where it is
    /// 2 MiB, else the PTEs one at a time (a leaf in such a chunk split first). A first partial 2 MiB
    /// chunk is widened down to its boundary when both sides share its phase and nothing else is mapped
    /// below (<c>try_realign_addr</c>): it then moves as a whole table.
    /// </summary>
    private void MovePageTables(in Vma source, in Vma target, ulong from, ulong to, ulong length)
    {
        ulong end = from + length;
        ulong o = from;
        ulong n = to;
        ulong pmdMask = VirtualAddress.PmdSize - 1;
        if (length >= VirtualAddress.PmdSize - (o & pmdMask) && (o & pmdMask) != 0 && (o & pmdMask) == (n & pmdMask)
            && source.Start == o && target.Start == n
            && !MappedBetween(o & ~pmdMask, o) && !MappedBetween(n & ~pmdMask, n))
        {
            o &= ~pmdMask;
            n &= ~pmdMask;
        }

        while (o < end)
        {
            ulong extent = Math.Min(Math.Min(NextBoundary(o, PudSize) - o, end - o), NextBoundary(n, PudSize) - n);
            if (!_tables.HasPmdTable(o))
            {
                o += extent;
                n += extent;
                continue;
            }

            if (!_tables.EnsurePudTable(n))
                ThrowOutOfMemory(n);
            if (extent == PudSize && _tables.TryMovePmdTable(o, n))
            {
                o += extent;
                n += extent;
                continue;
            }

            extent = Math.Min(Math.Min(NextBoundary(o, VirtualAddress.PmdSize) - o, end - o), NextBoundary(n, VirtualAddress.PmdSize) - n);
            if (_tables.FindPmd(o, allocate: false, out PmdSlot oldPmd) != WalkResult.Table || oldPmd.Value.IsNone)
            {
                o += extent;
                n += extent;
                continue;
            }

            if (_tables.FindPmd(n, allocate: true, out PmdSlot newPmd) != WalkResult.Table)
                ThrowOutOfMemory(n);
            if (extent == VirtualAddress.PmdSize && _tables.TryMovePmdEntry(in oldPmd, in newPmd))
            {
                o += extent;
                n += extent;
                continue;
            }

            if (oldPmd.Value.IsLeafPmd && SplitHugePmd(in oldPmd) == PmdSplitResult.OutOfMemory)
                ThrowOutOfMemory(o);
            MovePtes(o, n, extent);
            o += extent;
            n += extent;
        }
    }

    /// <summary>Linux <c>move_ptes</c>: each entry of [<paramref name="from"/>, +<paramref name="length"/>) (inside one PTE table on each side) moved as it is; the destination table allocated.</summary>
    private void MovePtes(ulong from, ulong to, ulong length)
    {
        if (_tables.Walk(from, allocate: false, out PteTable source) != WalkResult.Table)
            return;
        if (_tables.Walk(to, allocate: true, out PteTable target) != WalkResult.Table)
            ThrowOutOfMemory(to);
        int count = (int)(length >> PageGeometry.PageShift);
        Pte* old = source.Slot(from);
        Pte* fresh = target.Slot(to);
        for (int i = 0; i < count; i++)
        {
            if (old[i].IsNone)
                continue;
            fresh[i] = old[i];
            old[i] = Pte.None;
        }
    }

    /// <summary>Whether any VMA meets [<paramref name="start"/>, <paramref name="end"/>).</summary>
    private bool MappedBetween(ulong start, ulong end) =>
        start < end && _vmas.TryFindFirstAtOrAbove(start, out Vma vma) && vma.Start < end;

    private static ulong NextBoundary(ulong address, ulong size) => (address + size) & ~(size - 1);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Refuse(ulong address, Errno errno, string why) =>
        throw new BadAddressException($"Cannot mremap 0x{address:x}: {why}.", address, 0, errno);
}
