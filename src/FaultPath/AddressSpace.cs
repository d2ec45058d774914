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
/// fault as the kernel would; <see cref="Mmap"/>, <see cref="Munmap"/> and <see cref="Madvise"/>
/// are the syscalls.
/// </summary>
/// <remarks>
/// <para>Locks, by role (Linux's, less the per-VMA locks):</para>
/// <list type="table">
/// <item><term>mmap lock, read (<see cref="VmaSet.Lock"/>)</term><description>faults, loads and
/// stores; <see cref="SplitFolios"/>; the deferred-split shrinker while it splits a folio of this
/// address space; <see cref="GetLayout"/>.</description></item>
/// <item><term>mmap lock, write</term><description><see cref="Mmap"/>, <see cref="Munmap"/>,
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
    private readonly ulong _owner;
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
        _owner = ((ulong)id << 1) | PageDescriptor.MappingAnon;
        _vmas = new VmaSet();
        _tables = new PageTableTree(_arena);
    }

    /// <summary>The id folios' mapping words name this address space by (Linux: the mm's anon_vma).</summary>
    public uint Id => _id;

    /// <summary>The machine this address space runs on.</summary>
    public Machine Machine => _machine;

    /// <summary>The VMAs (and the mmap lock, <see cref="VmaSet.Lock"/>).</summary>
    public VmaSet Vmas => _vmas;

    /// <summary>The page tables.</summary>
    public PageTableTree PageTables => _tables;

    /// <summary>Resident anonymous pages (Linux <c>MM_ANONPAGES</c>, /proc/pid/status RssAnon in pages); zero-page mappings are not counted.</summary>
    public long AnonPages => _rss.Sum(0);

    /// <summary>Page-table pages (Linux <c>mm_pgtables_bytes</c> / 4 KiB).</summary>
    public long PageTablePages => _tables.TablePages;

    // ---------------------------------------------------------------- syscalls

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
        length = PageAlign(length, start, "mmap");
        ulong end = AddressChecks.CheckRange(start, length, "mmap");
        VmaFlagChecks.CheckMapFlags(protection, start, "mmap", nameof(protection));   // before anything is zapped
        using AddressSpaceWriteScope scope = _vmas.Lock.Write();
        ThrowIfDisposedLocked();
        var (floor, ceiling) = _vmas.GetFreePgtablesBounds(start, length);
        Vma[] old = _vmas.FindIntersecting(start, length);
        foreach (Vma vma in old)
            ZapRange(Math.Max(vma.Start, start), Math.Min(vma.End, end), reclaimTables: false);
        _vmas.Map(start, length, protection);
        if (old.Length > 0)
            _tables.FreePageTables(Math.Max(old[0].Start, start), Math.Min(old[^1].End, end), floor, ceiling);
        if (LargeFoliosEventSource.IsOn)
            LargeFoliosEventSource.Log.Mmap(_arena.Id, (int)_id, start, length, (int)protection);
    }

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
        length = PageAlign(length, start, "munmap");
        ulong end = AddressChecks.CheckRange(start, length, "munmap");
        using AddressSpaceWriteScope scope = _vmas.Lock.Write();
        ThrowIfDisposedLocked();
        var (floor, ceiling) = _vmas.GetFreePgtablesBounds(start, length);
        Vma[] old = _vmas.FindIntersecting(start, length);
        if (old.Length == 0)
            return;
        bool traced = LargeFoliosEventSource.IsOn;   // read once: a session may start midway
        long rssBefore = traced ? AnonPages : 0;     // exact: the write lock keeps faults out
        foreach (Vma vma in old)
            ZapRange(Math.Max(vma.Start, start), Math.Min(vma.End, end), reclaimTables: false);
        _vmas.Unmap(start, length);
        _tables.FreePageTables(Math.Max(old[0].Start, start), Math.Min(old[^1].End, end), floor, ceiling);
        if (traced)
            LargeFoliosEventSource.Log.Munmap(_arena.Id, (int)_id, start, length, rssBefore - AnonPages);
    }

    /// <summary>
    /// <c>madvise(start, length, advice)</c> over the mapped parts of the range:
    /// <list type="bullet">
    /// <item>HugePage / NoHugePage set VM_HUGEPAGE / VM_NOHUGEPAGE (splitting and merging VMAs; a
    /// PMD-mapped THP across a new VMA boundary is remapped by PTEs, Linux <c>vma_adjust_trans_huge</c>).</item>
    /// <item>DontNeed zaps the range now; a PTE table whose whole 2 MiB was zapped is freed
    /// (CONFIG_PT_RECLAIM), so a later fault there may map a PMD THP again.</item>
    /// <item>Free marks the range's folios lazily freeable (clean, not swap-backed); a large folio the
    /// range covers only in part is split to order 0 first (Linux <c>madvise_free_pte_range</c>,
    /// <c>madvise_free_huge_pmd</c>), and its zero-filled pages are remapped to the zero page.</item>
    /// <item>PopulateRead / PopulateWrite fault in every page not yet mapped as the access needs,
    /// in address order, exactly as loads or stores to each page would (Linux <c>madvise_populate</c>:
    /// <c>faultin_page_range</c> under the mmap read lock), stopping at the first unmapped page.</item>
    /// </list>
    /// </summary>
    /// <returns>True; false when part of the range is unmapped (Linux: -ENOMEM; the other advices apply to the mapped parts all the same, populate stops at the hole).</returns>
    /// <exception cref="SegmentationFaultException">Populate of a VMA that does not allow the access (Linux: -EFAULT); pages before it were populated.</exception>
    /// <exception cref="OutOfMemoryException">Populate found no memory (Linux: -ENOMEM); pages before it were populated.</exception>
    /// <exception cref="BadAddressException">Bad range, or nothing in it is mapped (Linux: -ENOMEM); nothing changed.</exception>
    public bool Madvise(ulong start, ulong length, MadviseAdvice advice)
    {
        ThrowIfDisposed();
        if (length == 0 && VirtualAddress.IsPageAligned(start))
            return true;   // madvise_should_skip: a zero length does nothing and succeeds
        length = PageAlign(length, start, "madvise");
        ulong end = AddressChecks.CheckRange(start, length, "madvise");
        if (!Enum.IsDefined(advice))
            throw new ArgumentOutOfRangeException(nameof(advice), advice, $"{(int)advice} is not an advice; expected hugepage, nohugepage, dontneed, free, populate_read or populate_write.");
        if (advice is MadviseAdvice.PopulateRead or MadviseAdvice.PopulateWrite)
        {
            using AddressSpaceReadScope populate = _vmas.Lock.Read();
            ThrowIfDisposedLocked();
            bool populated = PopulateLocked(start, end, advice == MadviseAdvice.PopulateWrite);
            if (LargeFoliosEventSource.IsOn)
                LargeFoliosEventSource.Log.Madvise(_arena.Id, (int)_id, start, length, (int)advice, 0);
            return populated;
        }

        using AddressSpaceWriteScope scope = _vmas.Lock.Write();
        ThrowIfDisposedLocked();
        bool traced = LargeFoliosEventSource.IsOn;   // read once: a session may start midway
        long rssBefore = traced ? AnonPages : 0;     // exact: the write lock keeps faults out
        bool covered = MadviseLocked(start, end, advice);
        if (traced)
            LargeFoliosEventSource.Log.Madvise(_arena.Id, (int)_id, start, length, (int)advice, rssBefore - AnonPages);
        return covered;
    }

    /// <summary>The advices that change mappings, under the mmap write lock.</summary>
    private bool MadviseLocked(ulong start, ulong end, MadviseAdvice advice)
    {
        ulong length = end - start;
        switch (advice)
        {
            case MadviseAdvice.HugePage:
            case MadviseAdvice.NoHugePage:
                bool hugePage = advice == MadviseAdvice.HugePage;
                Vma[] before = _vmas.FindIntersecting(start, length);
                if (before.Length == 0)
                    return _vmas.Madvise(start, length, hugePage);   // throws: nothing mapped
                SplitPmdAcrossBoundary(start, before[0], hugePage);
                SplitPmdAcrossBoundary(end, before[^1], hugePage);
                return _vmas.Madvise(start, length, hugePage);

            default:
                Vma[] vmas = _vmas.FindIntersecting(start, length);
                if (vmas.Length == 0)
                    AddressChecks.Throw($"Cannot madvise 0x{start:x}..0x{end:x}: nothing is mapped there (Linux: -ENOMEM).", start, length);
                ulong covered = 0;
                foreach (Vma vma in vmas)
                {
                    ulong from = Math.Max(vma.Start, start);
                    ulong to = Math.Min(vma.End, end);
                    covered += to - from;
                    if (advice == MadviseAdvice.DontNeed)
                        ZapRange(from, to, reclaimTables: true);
                    else if (vma.IsAnonymous)
                        MadviseFreeRange(from, to);
                }

                return covered == length;
        }
    }

    // ---------------------------------------------------------------- loads and stores

    /// <summary>
    /// Stores <paramref name="value"/> at <paramref name="address"/> as a CPU would: if the page is
    /// not mapped writable, a write fault first (as many as it takes).
    /// </summary>
    /// <exception cref="SegmentationFaultException">No VMA covers the address, or it is not writable; nothing changed.</exception>
    /// <exception cref="OutOfMemoryException">The fault found no memory (VM_FAULT_OOM).</exception>
    public void Write(ulong address, byte value = 1)
    {
        ThrowIfDisposed();
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        while (!TryAccess(address, write: true, value, out _))
        {
            if (FaultLocked(address, FaultAccess.Write).Kind == FaultKind.OutOfMemory)
                ThrowOutOfMemory(address);
        }
    }

    /// <summary>Loads the byte at <paramref name="address"/> as a CPU would, read-faulting first if the page is not mapped.</summary>
    /// <returns>The byte; in a metadata-only arena, 1 if the page was ever written non-zero since it was zeroed, else 0.</returns>
    /// <exception cref="SegmentationFaultException">No VMA covers the address, or it is not readable; nothing changed.</exception>
    /// <exception cref="OutOfMemoryException">The fault found no memory for a page table.</exception>
    public byte Read(ulong address)
    {
        ThrowIfDisposed();
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        byte loaded;
        while (!TryAccess(address, write: false, 0, out loaded))
        {
            if (FaultLocked(address, FaultAccess.Read).Kind == FaultKind.OutOfMemory)
                ThrowOutOfMemory(address);
        }

        return loaded;
    }

    /// <summary>
    /// The access itself, if the page tables allow it: the MMU's walk, then the load or store
    /// under the lock of the entry that maps the page. A split unmaps under that lock (Linux flushes
    /// the TLB before it looks at a page's contents), so a store is either seen by the split's
    /// all-zeros test or made after the split remapped the page, never lost in a page it freed.
    /// </summary>
    /// <returns>False when the access must fault first (nothing mapped, or read-only for a store).</returns>
    private bool TryAccess(ulong address, bool write, byte value, out byte loaded)
    {
        loaded = 0;
        if (address >= VirtualAddress.TaskSize
            || _tables.FindPmdEntry(address, allocate: false, out uint pmdTable, out Pte* pmdEntry) != WalkResult.Table)
        {
            return false;
        }

        int offset = (int)(address & (PageGeometry.PageSize - 1));
        Pte pmd = new(Volatile.Read(ref *(ulong*)pmdEntry));
        if (pmd.IsLeafPmd)
        {
            if (write && !pmd.IsWritable)
                return false;
            ref RawSpinLock pmdLock = ref _tables.TableLock(pmdTable);
            pmdLock.Enter();
            bool same = *pmdEntry == pmd;
            if (same)
                loaded = Access((uint)pmd.Pfn + (uint)VirtualAddress.PteIndex(address), offset, write, value);
            pmdLock.Exit();
            return same;
        }

        if (_tables.PteTableOf(pmdTable, pmdEntry, allocate: false, out PteTable table) != WalkResult.Table)
            return false;
        table.Lock();
        Pte pte = *table.At(address);
        bool allowed = pte.IsPresent && (!write || pte.IsWritable);
        if (allowed)
            loaded = Access((uint)pte.Pfn, offset, write, value);
        table.Unlock();
        return allowed;
    }

    private byte Access(uint pfn, int offset, bool write, byte value)
    {
        if (!write)
            return _machine.Load(pfn, offset);
        _machine.Store(pfn, offset, value);
        return 0;
    }

    /// <summary>
    /// Handles one page fault at <paramref name="address"/> (Linux <c>handle_mm_fault</c>), whether or
    /// not the access would have faulted: a fault on a page already mapped as needed is spurious.
    /// </summary>
    /// <returns>What the fault did; <see cref="FaultKind.OutOfMemory"/> when it found no memory (nothing changed).</returns>
    /// <exception cref="SegmentationFaultException">No VMA covers the address, or it does not allow the access; nothing changed.</exception>
    public FaultResult HandleFault(ulong address, FaultAccess access)
    {
        ThrowIfDisposed();
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        return FaultLocked(address, access);
    }

    /// <summary>
    /// What the page tables map at <paramref name="address"/>: the PTE, or for a PMD leaf the PTE
    /// its page would have (PFN of that page, the leaf's bits less Huge). None when nothing is mapped.
    /// </summary>
    public Pte Translate(ulong address)
    {
        ThrowIfDisposed();
        AddressChecks.CheckPage(address & ~(ulong)(PageGeometry.PageSize - 1), "translate");
        using AddressSpaceReadScope scope = _vmas.Lock.IsHeld ? default : _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        return _tables.Lookup(address);
    }

    /// <summary>
    /// Checks the VMAs, the page tables, and every mapped folio's rmap counts and references against
    /// the entries that map it, and the counters (see <see cref="AnonRmap"/> for the equations).
    /// Call it while no other thread uses the address space.
    /// </summary>
    /// <exception cref="FaultPathCorruptionException">The first broken invariant.</exception>
    public void Validate()
    {
        ThrowIfDisposed();
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        uint hugeZero = _machine.HugeZeroFolio is { } zero ? zero.Pfn : PageDescriptor.Nil;
        AddressSpaceValidator.Validate(this, _pages, _machine.ZeroPfn, hugeZero, _owner);
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

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Linux <c>PAGE_ALIGN(len)</c>: the syscalls round a length up to whole pages (an overflow is the range check's to report).</summary>
    private static ulong PageAlign(ulong length, ulong start, string what)
    {
        ulong aligned = (length + PageGeometry.PageSize - 1) & ~(ulong)(PageGeometry.PageSize - 1);
        if (aligned < length)
            AddressChecks.Throw($"Cannot {what} at 0x{start:x}: length 0x{length:x} overflows when rounded up to whole pages.", start, length);
        return aligned;
    }

    /// <summary>The check again once the mmap lock is held: a call that waited for <see cref="Dispose"/>'s write lock finds no tables left.</summary>
    private void ThrowIfDisposedLocked() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2201", Justification = "VM_FAULT_OOM is the arena out of memory, as Arena.Allocate reports it.")]
    private static void ThrowOutOfMemory(ulong address) =>
        throw new OutOfMemoryException($"The fault at 0x{address:x} found no free memory for a folio or a page table (VM_FAULT_OOM).");

    /// <summary>
    /// Linux <c>vma_adjust_trans_huge</c> for one end of a madvise range: when the VMA holding
    /// <paramref name="boundary"/> will be split there (its flags change), a PMD leaf across the
    /// boundary is split into PTEs.
    /// </summary>
    private void SplitPmdAcrossBoundary(ulong boundary, Vma vma, bool hugePage)
    {
        if ((boundary & (VirtualAddress.PmdSize - 1)) == 0 || boundary <= vma.Start || boundary >= vma.End)
            return;
        VmaFlags wanted = hugePage ? VmaFlags.HugePage : VmaFlags.NoHugePage;
        VmaFlags dropped = hugePage ? VmaFlags.NoHugePage : VmaFlags.HugePage;
        if ((vma.Flags & wanted) != 0 && (vma.Flags & dropped) == 0)
            return;
        if (_tables.ReadPmd(boundary).IsLeafPmd)
            SplitHugePmd(VirtualAddress.PmdAlignDown(boundary));
    }
}
