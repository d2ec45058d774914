using System;
using System.Collections.Generic;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// One process's address space (Linux <c>mm_struct</c>): its VMAs, its page tables, its counters,
/// on a <see cref="FaultPath.Machine"/> whose memory, THP settings and statistics it shares with
/// the machine's other address spaces. Loads and stores (<see cref="Read"/>, <see cref="Write"/>)
/// fault as the kernel would; <see cref="Mmap(ulong, ulong, VmaFlags)"/>, <see cref="Munmap"/> and <see cref="Madvise"/>
/// are the syscalls.
/// </summary>
/// <remarks>
/// <para>Locks, by role (Linux's, less the per-VMA locks):</para>
/// <list type="table">
/// <item><term>mmap lock, read (<see cref="VmaSet.Lock"/>)</term><description>faults, loads and
/// stores; <see cref="SplitFolios"/>; the deferred-split shrinker while it splits a folio of this
/// address space; <see cref="GetLayout"/>.</description></item>
/// <item><term>mmap lock, write</term><description><see cref="Mmap(ulong, ulong, VmaFlags)"/>, <see cref="Munmap"/>,
/// <see cref="Madvise"/> (every advice: Linux takes the read side for DONTNEED and FREE and
/// frees empty PTE tables under RCU; here the write side stands in for both, so no walker ever
/// holds a table being freed).</description></item>
/// <item><term>PMD table lock</term><description>installing, replacing and splitting a PMD leaf,
/// and the rmap change a PMD split makes.</description></item>
/// <item><term>PTE table lock</term><description>every PTE change and the rmap change that goes
/// with it; a folio is mapped by one PTE table only, so its counts change under one lock. Loads
/// and stores hold it (or the PMD lock, for a leaf) while they touch the page: the model's TLB
/// flush.</description></item>
/// <item><term>deferred-split queue lock</term><description>queueing and unqueueing, the
/// shrinker's references, and a split's refcount freeze. Taken inside the page-table locks, never
/// around them.</description></item>
/// <item><term>folio lock (PG_locked)</term><description>splitting a folio: the shrinker,
/// MADV_FREE and <see cref="SplitFolios"/> try it and skip a folio that is busy.</description></item>
/// </list>
/// </remarks>
public sealed unsafe partial class AddressSpace : IDisposable
{
    private readonly Machine _machine;
    private readonly Arena _arena;
    private readonly PageDescriptor* _pages;
    private readonly ThpPolicy _policy;
    private readonly MthpStats _mthp;
    private readonly VmEvents _events;
    private readonly VmaSet _vmas;
    private readonly PageTableTree _tables;
    private readonly uint _id;
    private readonly PerThreadCounters _rss = new(1);
    private bool _disposed;

    internal AddressSpace(Machine machine, uint id)
    {
        _machine = machine;
        _arena = machine.Arena;
        _pages = machine.Pages;
        _policy = machine.Policy;
        _mthp = machine.MthpStats;
        _events = machine.Events;
        _id = id;
        _vmas = new VmaSet();
        _tables = new PageTableTree(_arena, (int)id);
    }

    /// <summary>The address space's id (Linux <c>mm->mm_id</c>): what a large folio's mm-id slots name it by.</summary>
    public uint Id => _id;

    /// <summary>Whether the address space has exited (<see cref="Dispose"/>: exit_mmap ran).</summary>
    public bool IsExited => Volatile.Read(ref _disposed);

    /// <summary>The machine this address space runs on.</summary>
    public Machine Machine => _machine;

    /// <summary>
    /// The VMAs, read-only: lookups under the mmap lock for reading. Only this address space's
    /// syscalls (<see cref="Mmap(ulong, ulong, VmaFlags)"/>, <see cref="Munmap"/>, <see cref="Madvise"/>) change them, as they
    /// must, with the zap, the PMD splits at new boundaries and the page tables they free.
    /// </summary>
    public VmaView Vmas => _vmas.AsReadOnly();

    /// <summary>The page tables, read-only (what an entry says, the table pages); the faults and syscalls change them.</summary>
    public PageTableView PageTables => _tables.AsReadOnly();

    /// <summary>Resident anonymous pages (Linux <c>MM_ANONPAGES</c>, /proc/pid/status RssAnon in pages); zero-page mappings are not counted.</summary>
    public long AnonPages => _rss.Sum(0);

    /// <summary>The VMAs themselves, for the fault path's own walks and the validator.</summary>
    internal VmaSet VmaSet => _vmas;

    /// <summary>The page tables themselves, for the fault path's own walks and the validator.</summary>
    internal PageTableTree Tables => _tables;

    /// <summary>Page-table pages (Linux <c>mm_pgtables_bytes</c> / 4 KiB).</summary>
    public long PageTablePages => _tables.TablePages;

    /// <summary>
    /// Checks the VMAs, the page tables, every entry that maps something, and every folio this
    /// address space maps: its rmap counts, slots and references against the entries of every
    /// process that maps it (see <see cref="AnonRmap"/> for the equations), and the counters. Call
    /// it while no other thread uses the machine.
    /// </summary>
    /// <exception cref="FaultPathCorruptionException">The first broken invariant.</exception>
    public void Validate()
    {
        ThrowIfDisposed();
        var folios = new Dictionary<uint, FolioTally>();
        CollectForValidation(folios);
        foreach (AddressSpace other in _machine.LiveAddressSpaces())
        {
            if (other != this)
                other.CollectForValidation(folios);
        }

        AddressSpaceValidator.CheckFolios(_pages, folios, _machine, only: this);
    }

    /// <summary>Checks this address space's own invariants and tallies what it maps, under its mmap lock.</summary>
    internal void CollectForValidation(Dictionary<uint, FolioTally> folios)
    {
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        if (Volatile.Read(ref _disposed))
            return;
        AddressSpaceValidator.Collect(this, _machine, folios);
    }

    // ---------------------------------------------------------------- teardown

    /// <summary>
    /// Linux <c>exit_mmap</c>: zaps every VMA, frees every page table and leaves the machine. Folios
    /// nobody else holds go back to the arena.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        // Everything under the write lock, so a shrinker holding one of our folios, or a call that
        // waited for the lock, finds either the whole address space or none of it (both look at
        // _disposed under the lock).
        using (_vmas.Lock.Write())
        {
            if (_disposed)
                return;
            foreach (Vma vma in _vmas.ToArray())
                ZapRange(vma.Start, vma.End, reclaimTables: false);
            _disposed = true;
            _tables.Dispose();
        }

        _machine.Unregister(this);
        _vmas.Dispose();
        _rss.Dispose();
    }

    /// <summary>MM_ANONPAGES changed by another's hand (a split's remap to the zero page).</summary>
    internal void AddAnonPages(long pages) => _rss.Add(0, pages);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>The check again once the mmap lock is held: a call that waited for <see cref="Dispose"/>'s write lock finds no tables left.</summary>
    private void ThrowIfDisposedLocked() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2201", Justification = "VM_FAULT_OOM is the arena out of memory, as Arena.Allocate reports it.")]
    private static void ThrowOutOfMemory(ulong address) =>
        throw new OutOfMemoryException($"The fault at 0x{address:x} found no free memory for a folio or a page table (VM_FAULT_OOM).");
}
