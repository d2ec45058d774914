using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>mmap and munmap (Linux mm/mmap.c, mm/vma.c).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// <c>mmap(start, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)</c>: whatever was mapped
    /// in the range is unmapped first (zapped, its page tables freed as <c>munmap</c> would), then the
    /// new VMA is inserted and merged with identical neighbours.
    /// </summary>
    /// <param name="start">Page-aligned start.</param>
    /// <param name="length">Page-aligned length.</param>
    /// <param name="protection">Read, Write and Exec bits (VM_READ, VM_WRITE, VM_EXEC); Read | Write by default.</param>
    /// <exception cref="BadAddressException">Bad range; nothing changed.</exception>
    /// <exception cref="ArgumentException">Flags other than Read, Write, Exec, HugePage, NoHugePage.</exception>
    public void Mmap(ulong start, ulong length, VmaFlags protection = VmaFlags.Read | VmaFlags.Write)
    {
        ThrowIfDisposed();
        ulong end = SyscallChecks.Mmap(start, length);
        length = end - start;
        VmaFlagChecks.CheckMapFlags(protection, start, "mmap", nameof(protection));   // before anything is zapped
        using AddressSpaceWriteScope scope = _vmas.Lock.Write();
        ThrowIfDisposedLocked();
        if ((protection & VmaFlags.Write) != 0)
            CheckChargeLocked("mmap", start, (length >> PageGeometry.PageShift) - AccountedPagesLocked(start, end));
        UnmapRegionLocked(start, end, mapWith: protection);
        if (FaultPathEventSource.IsOn)
            FaultPathEventSource.Log.Mmap(_arena.Id, (int)_id, start, length, protection);
    }

    /// <summary>
    /// <c>mmap(start, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)</c> with a protection as
    /// a scenario names it (<see cref="Mmap(ulong, ulong, VmaFlags)"/>).
    /// </summary>
    /// <exception cref="BadAddressException">Bad range; nothing changed.</exception>
    public void Mmap(ulong start, ulong length, MemoryProtection protection) => Mmap(start, length, ProtectionFlags(protection));

    /// <summary>The VMA flags of a protection: VM_READ, VM_WRITE (Linux <c>calc_vm_prot_bits</c>).</summary>
    internal static VmaFlags ProtectionFlags(MemoryProtection protection) => protection switch
    {
        MemoryProtection.ReadWrite => VmaFlags.Read | VmaFlags.Write,
        MemoryProtection.Read => VmaFlags.Read,
        MemoryProtection.None => VmaFlags.None,
        _ => throw new ArgumentOutOfRangeException(nameof(protection), protection, $"{(int)protection} is not a protection; expected none, read or read-write."),
    };

    /// <summary>
    /// <c>munmap(start, length)</c>: zaps every mapping in the range (a PMD-mapped THP the range covers
    /// in part is split first; a large folio left partly mapped is queued for deferred split),
    /// removes the VMAs, and frees the page tables no remaining VMA can use (Linux
    /// <c>unmap_region</c>: <c>unmap_vmas</c> then <c>free_pgtables</c>). Unmapping nothing is not an error.
    /// </summary>
    /// <exception cref="BadAddressException">Bad range; nothing changed.</exception>
    public void Munmap(ulong start, ulong length)
    {
        ThrowIfDisposed();
        ulong end = SyscallChecks.Munmap(start, length);
        length = end - start;
        using AddressSpaceWriteScope scope = _vmas.Lock.Write();
        ThrowIfDisposedLocked();
        bool traced = FaultPathEventSource.IsOn;   // read once: a session may start midway
        long rssBefore = traced ? AnonPages : 0;     // exact: the write lock keeps faults out
        if (UnmapRegionLocked(start, end, mapWith: null) && traced)
            FaultPathEventSource.Log.Munmap(_arena.Id, (int)_id, start, length, rssBefore - AnonPages);
    }

    /// <summary>
    /// Linux <c>security_vm_enough_memory_mm</c> under the default heuristic overcommit
    /// (OVERCOMMIT_GUESS, <c>__vm_enough_memory</c>): one charge of more pages than the machine has
    /// (the arena; no swap) is refused with ENOMEM, whatever is charged already. Nothing is kept: the
    /// heuristic counts no total.
    /// </summary>
    private void CheckChargeLocked(string call, ulong start, ulong pages)
    {
        ulong total = _machine.ChargeLimitPages;
        if (pages > total)
        {
            throw new BadAddressException(
                $"Cannot {call} at 0x{start:x}: it charges {pages} pages, more than the machine's {total} (heuristic overcommit, Linux -ENOMEM); expected at most the memory there is.",
                start,
                pages << PageGeometry.PageShift,
                Errno.ENOMEM);
        }
    }

    /// <summary>The pages of [<paramref name="start"/>, <paramref name="end"/>) that VM_ACCOUNT VMAs hold: what a MAP_FIXED mmap over them stops charging (<c>vms->nr_accounted</c>).</summary>
    private ulong AccountedPagesLocked(ulong start, ulong end)
    {
        ulong pages = 0;
        foreach (Vma vma in _vmas.FindIntersecting(start, end - start))
        {
            if ((vma.Flags & VmaFlags.Account) != 0)
                pages += (Math.Min(vma.End, end) - Math.Max(vma.Start, start)) >> PageGeometry.PageShift;
        }

        return pages;
    }

    /// <summary>
    /// Linux <c>unmap_region</c> for [<paramref name="start"/>, <paramref name="end"/>), the mmap lock
    /// held for write: the bounds <c>free_pgtables</c> may free within (the neighbouring VMAs' floor
    /// and ceiling, taken before anything changes), the zap of every VMA's part of the range, the
    /// VMAs removed (munmap) or replaced by one with <paramref name="mapWith"/>'s flags (mmap's
    /// MAP_FIXED), then the page tables freed under what was mapped.
    /// </summary>
    /// <returns>False when nothing was mapped in the range: nothing was zapped or freed.</returns>
    private bool UnmapRegionLocked(ulong start, ulong end, VmaFlags? mapWith)
    {
        ulong length = end - start;
        var (floor, ceiling) = _vmas.GetFreePgtablesBounds(start, length);
        Vma[] old = _vmas.FindIntersecting(start, length);
        foreach (Vma vma in old)
            ZapRange(Math.Max(vma.Start, start), Math.Min(vma.End, end), reclaimTables: false);
        if (mapWith is VmaFlags flags)
            _vmas.Map(start, length, flags);
        else if (old.Length > 0)
            _vmas.Unmap(start, length);
        if (old.Length == 0)
            return false;
        _tables.FreePageTables(Math.Max(old[0].Start, start), Math.Min(old[^1].End, end), floor, ceiling);
        return true;
    }
}
