using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// One address space's 4-level page tables (Linux <c>mm->pgd</c> and what hangs below it), every
/// table one order-0 page of a buddy <see cref="Arena"/>, typed PGTY_table in its descriptor as
/// Linux's <c>pagetable_alloc</c> does, so page-table memory is real and counted
/// (<see cref="TablePages"/>, /proc/meminfo's PageTables).
/// </summary>
/// <remarks>
/// <para>Where a table's 4 KiB live: in the arena page itself; in a metadata-only arena, which has
/// no memory behind its pages, in a side page whose address the table page's descriptor keeps in
/// its (for tables unused) mapping word.</para>
/// <para>Locks, by role (Linux's split page-table locks):</para>
/// <list type="table">
/// <item><term><c>page_table_lock</c> (one per tree)</term><description>installing a PUD or PMD table
/// (Linux <c>__pud_alloc</c>, <c>__pmd_alloc</c>).</description></item>
/// <item><term>PMD table lock (in the PMD table's descriptor)</term><description>installing a PTE
/// table (<c>pmd_install</c>), installing, clearing and splitting a PMD leaf, and the list of PTE
/// tables deposited for the leaves of that PMD table.</description></item>
/// <item><term>PTE table lock (in the PTE table's descriptor)</term><description>changing any PTE
/// (<see cref="PteTable"/>).</description></item>
/// <item><term>exclusive (the caller's address-space write lock)</term><description>freeing tables
/// (<see cref="FreePageTables"/>) and <see cref="Dispose"/>: walkers hold no reference a lock
/// could protect.</description></item>
/// </list>
/// <para>Walkers read entries with single 8-byte loads and no lock (Linux <c>READ_ONCE</c>); a
/// table is zeroed before the entry pointing at it is published, so a walker never sees a
/// half-built table.</para>
/// </remarks>
public sealed unsafe partial class PageTableTree : IDisposable
{
    /// <summary>The flags of an entry pointing at a lower table (x86 <c>_PAGE_TABLE</c>).</summary>
    public const PteFlags TableEntryFlags = PteFlags.Present | PteFlags.Write | PteFlags.User | PteFlags.Accessed | PteFlags.Dirty;

    /// <summary>The mapcount word of a page-table page: PGTY_table in the top byte (Linux <c>__SetPageTable</c>).</summary>
    internal const uint PageTableTypeWord = (uint)PageType.Table << 24;

    private readonly Arena _arena;
    private readonly PageDescriptor* _pages;
    private readonly byte* _memory;
    private readonly SidePagePool? _sidePages;
    private readonly uint _pgd;
    private readonly int _ownerId;
    private long _tablePages;
    private RawSpinLock _pageTableLock;
    private bool _disposed;

    /// <summary>Creates an empty tree: one PGD page taken from <paramref name="arena"/>.</summary>
    /// <param name="arena">The memory the tables are pages of.</param>
    /// <param name="ownerId">Who the tables belong to (an address space's id), as the trace events name them.</param>
    /// <exception cref="OutOfMemoryException">The arena has no free page for the PGD.</exception>
    /// <exception cref="HostMemoryException">The arena is metadata-only and its host-memory bound refused the PGD's side page.</exception>
    public PageTableTree(Arena arena, int ownerId = 0)
    {
        ArgumentNullException.ThrowIfNull(arena);
        arena.ThrowIfDisposed();
        _arena = arena;
        _ownerId = ownerId;
        _pages = arena.Pages;
        _memory = arena.BaseAddress;
        _sidePages = arena.SidePages;
        long refusals = arena.HostMemory.Refusals;
        if (!TryAllocateTable(out _pgd))
        {
            if (arena.HostMemory.Refusals != refusals && arena.HostMemory.LastRefusal is { } refusal)
                throw new HostMemoryException($"No host memory for the PGD's side page: {refusal.Message}", refusal);
            ThrowHelper.ThrowOutOfMemory("No free page in the arena for a PGD.");
        }
    }

    /// <summary>
    /// The most page-table pages mapping <paramref name="length"/> bytes from
    /// <paramref name="start"/> can take, the PGD included: a PTE table per 2 MiB the range touches
    /// (a PMD leaf's deposited table stands in for it), a PMD table per 1 GiB, a PUD table per
    /// 512 GiB. In a metadata-only arena each costs the host a 4 KiB side page.
    /// </summary>
    public static long MaxTablesFor(ulong start, ulong length)
    {
        if (length == 0)
            return 1;
        ulong last = start + (length - 1);
        if (last < start)
            last = ulong.MaxValue;
        return 1 + Spans(start, last, VirtualAddress.PmdShift) + Spans(start, last, VirtualAddress.PudShift) + Spans(start, last, VirtualAddress.PgdShift);

        static long Spans(ulong first, ulong last, int shift) => (long)((last >> shift) - (first >> shift)) + 1;
    }

    /// <summary>The arena the tables are pages of.</summary>
    public Arena Arena => _arena;

    /// <summary>Who the tables belong to (an address space's id; 0 when not given).</summary>
    public int OwnerId => _ownerId;

    /// <summary>The PFN of the top-level table (Linux <c>mm->pgd</c>).</summary>
    public uint PgdPfn => _pgd;

    /// <summary>Page-table pages in use, the PGD and deposited tables included (Linux <c>mm_pgtables_bytes</c> / 4 KiB).</summary>
    public long TablePages => Volatile.Read(ref _tablePages);

    /// <summary>Bytes of page tables (/proc/meminfo PageTables, in bytes).</summary>
    public long TableBytes => TablePages << PageGeometry.PageShift;

    /// <summary>A read-only view of the tables, for an owner to hand out (<see cref="PageTableView"/>).</summary>
    public PageTableView AsReadOnly() => new(this);

    /// <summary>The /proc/meminfo line for these tables, as Linux prints it.</summary>
    public string MeminfoLine => $"PageTables:     {TableBytes >> 10,8} kB";

    // ---------------------------------------------------------------- walking

    /// <summary>
    /// Walks to the PTE table covering <paramref name="address"/> (Linux <c>pte_offset_map</c>,
    /// with <paramref name="allocate"/> also <c>pte_alloc</c> and the upper <c>*_alloc</c>s).
    /// </summary>
    /// <returns><see cref="WalkResult.Table"/> with the table; otherwise why there is none.</returns>
    /// <exception cref="BadAddressException">The address is beyond user space.</exception>
    public WalkResult Walk(ulong address, bool allocate, out PteTable table)
    {
        CheckUserAddress(address, "walk the page tables");
        return WalkPte(address, allocate, out table);
    }

    /// <summary><see cref="Walk"/> for callers that have checked the address and the tree already.</summary>
    private WalkResult WalkPte(ulong address, bool allocate, out PteTable table)
    {
        WalkResult result = FindPmd(address, allocate, out PmdSlot pmd);
        if (result == WalkResult.Table)
            return PteTableOf(in pmd, allocate, out table);
        table = default;
        return result;
    }

    /// <summary>The PMD entry covering <paramref name="address"/>, or none when no PMD table exists.</summary>
    public Pte ReadPmd(ulong address)
    {
        CheckUserAddress(address, "read a PMD entry");
        return WalkToPmd(address, allocate: false, out uint pmdTable) == WalkResult.Table
            ? Read(PmdEntryOf(pmdTable, address))
            : Pte.None;
    }

    /// <summary>The PTE mapping <paramref name="address"/>, or none when no PTE table exists (or a PMD leaf maps it).</summary>
    public Pte ReadPte(ulong address)
    {
        CheckUserAddress(address, "read a PTE");
        return WalkPte(address, allocate: false, out PteTable table) == WalkResult.Table ? Read(table.Slot(address)) : Pte.None;
    }

    // ---------------------------------------------------------------- PTEs

    /// <summary>
    /// Linux <c>set_ptes</c>: maps <paramref name="nr"/> consecutive pages from
    /// <paramref name="address"/> to consecutive PFNs, the first entry <paramref name="first"/> and
    /// each next one its <see cref="Pte.NextPage"/>. The caller holds the table's lock and has
    /// checked the slots (usually all none); the range stays inside the table.
    /// </summary>
    /// <exception cref="BadAddressException">The address is unaligned, or the range leaves the table.</exception>
    public static void SetPtes(PteTable table, ulong address, Pte first, int nr)
    {
        CheckPteRun(table, address, nr, "set PTEs");
        Debug.Assert(table.IsLocked, "set_ptes without the PTE table lock");
        Pte* slot = table.Slot(address);
        for (int i = 0; i < nr; i++)
        {
            slot[i] = first;
            first = first.NextPage;
        }

        DebugVm.CheckRun(slot, nr, address);
    }


    /// <summary>
    /// Allocating what is missing, locks the PTE table for <paramref name="address"/> and sets
    /// <paramref name="nr"/> PTEs (<see cref="SetPtes"/>) if they are all none.
    /// </summary>
    /// <returns><see cref="WalkResult.Table"/> when set; <see cref="WalkResult.PmdLeaf"/> or
    /// <see cref="WalkResult.OutOfMemory"/> when not.</returns>
    /// <exception cref="BadAddressException">Bad address or range, or some of the entries are not none (nothing changed).</exception>
    public WalkResult MapPtes(ulong address, Pte first, int nr)
    {
        CheckUserAddress(address, "map PTEs");
        CheckPteRun(address, nr, "map PTEs");
        WalkResult result = WalkPte(address, allocate: true, out PteTable table);
        if (result != WalkResult.Table)
            return result;

        table.Lock();
        int none = PteScan.CountNone(table.Slot(address), nr);
        if (none != nr)
        {
            table.Unlock();
            ulong busy = address + ((ulong)none << PageGeometry.PageShift);
            AddressChecks.Throw($"Cannot map PTEs at 0x{address:x}: the entry for 0x{busy:x} is {Read(table.Slot(busy))}; expected none.", busy, 0);
        }

        SetPtes(table, address, first, nr);
        table.Unlock();
        return WalkResult.Table;
    }

    // ---------------------------------------------------------------- validation

    /// <summary>
    /// Walks every table and checks every invariant: each table is a live order-0 arena page typed
    /// PGTY_table, reached exactly once; upper entries are none or tables; PMD entries none, tables
    /// or leaves with 512-page aligned PFNs; PTEs none or present with a PFN inside the arena
    /// (special entries excepted); deposited tables are empty; no lock is held; and the tables
    /// reached add up to <see cref="TablePages"/>. Call it while no other thread changes the tree.
    /// </summary>
    /// <exception cref="PageTableCorruptionException">The first broken invariant.</exception>
    public void Validate() => PageTableValidator.Validate(this);

    internal PageDescriptor* Pages => _pages;

    // ---------------------------------------------------------------- the fault path's walks
    // Callers (the fault path) have checked that the address lies in a VMA, hence in user space,
    // and hold the mmap lock, so the tree is not being torn down.

    /// <summary>
    /// <c>__handle_mm_fault</c>'s descent: the PMD entry covering <paramref name="address"/>, with
    /// missing PUD and PMD tables allocated when <paramref name="allocate"/> (<c>pud_alloc</c>,
    /// <c>pmd_alloc</c>).
    /// </summary>
    /// <returns><see cref="WalkResult.Table"/> with the entry in <paramref name="pmd"/>; otherwise why there is none.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [LayerInterface]
    internal WalkResult FindPmd(ulong address, bool allocate, out PmdSlot pmd)
    {
        Debug.Assert(address < VirtualAddress.TaskSize && !_disposed, "fault-path walk outside user space or after teardown");
        WalkResult result = WalkToPmd(address, allocate, out uint pmdTable);
        if (result != WalkResult.Table)
        {
            pmd = default;
            return result;
        }

        Pte* entry = PmdEntryOf(pmdTable, address);
        pmd = new PmdSlot(pmdTable, entry, Read(entry), address);
        return WalkResult.Table;
    }

    /// <summary>
    /// <c>pte_alloc</c> and <c>pte_offset_map</c> on a PMD entry <see cref="FindPmd"/> or a range walk
    /// found: the PTE table under it as the entry is now, installed if the entry is none;
    /// <see cref="WalkResult.PmdLeaf"/> when a leaf is there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [LayerInterface]
    internal WalkResult PteTableOf(in PmdSlot pmd, bool allocate, out PteTable table)
    {
        Pte entry = Read(pmd.Entry);
        if (entry.IsNone)
        {
            table = default;
            if (!allocate)
                return WalkResult.NoTable;
            WalkResult installed = InstallPteTable(pmd.TablePfn, pmd.Entry);
            if (installed != WalkResult.Table)
                return installed;
            entry = Read(pmd.Entry);
        }

        if (entry.IsLeafPmd)
        {
            table = default;
            return WalkResult.PmdLeaf;
        }

        table = TableAt((uint)entry.Pfn);
        return WalkResult.Table;
    }

    /// <summary>
    /// What the MMU finds for <paramref name="address"/>: the PTE, or for a PMD leaf the PTE its
    /// page would have (the page's PFN, the leaf's bits less Huge); none when nothing maps it. One
    /// descent, no allocation, no lock (a hardware walk).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [LayerInterface]
    internal Pte Lookup(ulong address)
    {
        Debug.Assert(address < VirtualAddress.TaskSize && !_disposed, "lookup outside user space or after teardown");
        Pte upper = Read(EntriesOf(_pgd) + VirtualAddress.PgdIndex(address));
        if (!upper.IsTable)
            return Pte.None;
        upper = Read(EntriesOf((uint)upper.Pfn) + VirtualAddress.PudIndex(address));
        if (!upper.IsTable)
            return Pte.None;
        Pte pmd = Read(EntriesOf((uint)upper.Pfn) + VirtualAddress.PmdIndex(address));
        if (pmd.IsTable)
            return Read(EntriesOf((uint)pmd.Pfn) + VirtualAddress.PteIndex(address));
        if (pmd.IsLeafPmd)
            return new Pte(pmd.Without(PteFlags.Huge).Value + ((ulong)VirtualAddress.PteIndex(address) << PageGeometry.PageShift));
        return Pte.None;
    }

    /// <summary>The 512 entries of the table page <paramref name="pfn"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Pte* EntriesOf(uint pfn) =>
        _memory != null ? (Pte*)(_memory + ((nuint)pfn << PageGeometry.PageShift)) : (Pte*)_pages[pfn].Mapping;

    /// <summary>The PTE table in page <paramref name="pfn"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal PteTable TableAt(uint pfn) => new(pfn, EntriesOf(pfn), _pages + pfn);

    /// <summary>The split lock of the table page <paramref name="pfn"/> (see <see cref="PteTable.LockOf"/>).</summary>
    [LayerInterface]
    internal ref RawSpinLock TableLock(uint pfn) => ref PteTable.LockOf(_pages + pfn);

    /// <summary>The entry of the PMD table <paramref name="pmdTable"/> that covers <paramref name="address"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Pte* PmdEntryOf(uint pmdTable, ulong address) => EntriesOf(pmdTable) + VirtualAddress.PmdIndex(address);

    // ---------------------------------------------------------------- internals

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Pte Read(Pte* entry) => new(Volatile.Read(ref *(ulong*)entry));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Write(Pte* entry, Pte value) => Volatile.Write(ref *(ulong*)entry, value.Value);

    // Callers have checked the address and that the tree is not disposed.
    private WalkResult WalkToPmd(ulong address, bool allocate, out uint pmdTable)
    {
        pmdTable = PageDescriptor.Nil;
        WalkResult result = Descend(EntriesOf(_pgd) + VirtualAddress.PgdIndex(address), allocate, out uint pudTable);
        if (result != WalkResult.Table)
            return result;
        return Descend(EntriesOf(pudTable) + VirtualAddress.PudIndex(address), allocate, out pmdTable);
    }

    // Linux __pud_alloc/__pmd_alloc: allocate with no lock, publish under page_table_lock unless
    // another thread got there first, in which case free ours.
    private WalkResult Descend(Pte* entry, bool allocate, out uint next)
    {
        Pte e = Read(entry);
        if (e.IsTable)
        {
            next = (uint)e.Pfn;
            return WalkResult.Table;
        }

        next = PageDescriptor.Nil;
        if (!allocate)
            return WalkResult.NoTable;
        if (!TryAllocateTable(out uint table))
            return WalkResult.OutOfMemory;

        _pageTableLock.Enter();
        e = Read(entry);
        if (e.IsNone)
        {
            Write(entry, Pte.Make(table, TableEntryFlags));
            e = Read(entry);
            table = PageDescriptor.Nil;
        }

        _pageTableLock.Exit();
        if (table != PageDescriptor.Nil)
            FreeTable(table);
        next = (uint)e.Pfn;
        return WalkResult.Table;
    }

    // Linux pmd_install: a PTE table under the PMD table's split lock.
    private WalkResult InstallPteTable(uint pmdTable, Pte* pmdEntry)
    {
        if (!TryAllocateTable(out uint table))
            return WalkResult.OutOfMemory;
        ref RawSpinLock pmdLock = ref TableLock(pmdTable);
        pmdLock.Enter();
        if (Read(pmdEntry).IsNone)
        {
            Write(pmdEntry, Pte.Make(table, TableEntryFlags));
            table = PageDescriptor.Nil;
        }

        pmdLock.Exit();
        if (table != PageDescriptor.Nil)
            FreeTable(table);
        return WalkResult.Table;
    }

    /// <summary>Linux <c>pagetable_alloc</c> + <c>pagetable_*_ctor</c>: a zeroed order-0 page typed PGTY_table.</summary>
    private bool TryAllocateTable(out uint pfn)
    {
        if (!_arena.TryAllocate(0, out Folio folio))
        {
            pfn = PageDescriptor.Nil;
            return false;
        }

        pfn = folio.Pfn;
        PageDescriptor* page = _pages + pfn;
        void* memory;
        if (_memory != null)
        {
            memory = _memory + ((nuint)pfn << PageGeometry.PageShift);
            page->Mapping = 0;
        }
        else
        {
            // A metadata-only arena has no memory behind its pages: the table's entries live in a
            // side page, found through the descriptor. One the host-memory bound refuses fails the
            // allocation as an empty arena does (Linux's pagetable_alloc returning NULL): every
            // caller already unwinds that, so nothing is left half-built.
            memory = _sidePages!.TryRent();
            if (memory == null)
            {
                _arena.Free(folio);
                pfn = PageDescriptor.Nil;
                return false;
            }

            page->Mapping = (ulong)memory;
        }

        NativeMemory.Clear(memory, PageGeometry.PageSize);
        page->PageTypeWord = PageTableTypeWord;
        page->Private = 0;
        page->ListNext = PageDescriptor.Nil;
        long tables = Interlocked.Increment(ref _tablePages);
        if (PageTableEventSource.IsOn)
            PageTableEventSource.Log.PageTableAllocated(_arena.Id, _ownerId, pfn, tables);
        return true;
    }

    /// <summary>Linux <c>pagetable_dtor_free</c>: clears the table type and returns the page to the arena.</summary>
    private void FreeTable(uint pfn, bool teardown = false)
    {
        if (!teardown)
            DebugVm.CheckEmptyTable(this, pfn);
        PageDescriptor* page = _pages + pfn;
        Debug.Assert(page->PageTypeWord == PageTableTypeWord, "freeing a page that is not a page table");
        Debug.Assert(page->Private == 0, "freeing a locked page table");
        if (_memory == null)
            _sidePages!.Return((void*)page->Mapping);
        page->Mapping = 0;
        page->Private = 0;
        page->PageTypeWord = unchecked((uint)PageDescriptor.NoMapcount);
        _arena.Free(_arena.FolioOf(pfn));
        long tables = Interlocked.Decrement(ref _tablePages);
        if (PageTableEventSource.IsOn)
            PageTableEventSource.Log.PageTableFreed(_arena.Id, _ownerId, pfn, tables);
    }


    private static ulong NextBoundary(ulong address, int shift, ulong end)
    {
        ulong boundary = (address + (1UL << shift)) & ~((1UL << shift) - 1);
        return boundary - 1 < end - 1 ? boundary : end;
    }

    private void ThrowIfDisposed()
    {
        if (_disposed)
            throw new ObjectDisposedException(nameof(PageTableTree), "The page tables have been torn down.");
    }

    private void CheckUserAddress(ulong address, string what)
    {
        ThrowIfDisposed();
        if (address >= VirtualAddress.TaskSize)
            AddressChecks.Throw($"Cannot {what} at 0x{address:x}: the address is beyond user space (TASK_SIZE 0x{VirtualAddress.TaskSize:x}).", address, 0);
    }

    private void CheckPmdAddress(ulong address, string what)
    {
        CheckUserAddress(address, what);
        if ((address & (VirtualAddress.PmdSize - 1)) != 0)
            AddressChecks.Throw($"Cannot {what} at 0x{address:x}: the address is not 2 MiB aligned.", address, 0);
    }

    private static void CheckPteRun(PteTable table, ulong address, int nr, string what)
    {
        if (!table.IsValid)
            throw new ArgumentException($"Cannot {what} at 0x{address:x}: no PTE table given.", nameof(table));
        CheckPteRun(address, nr, what);
    }

    private static void CheckPteRun(ulong address, int nr, string what)
    {
        if (!VirtualAddress.IsPageAligned(address))
            AddressChecks.Throw($"Cannot {what} at 0x{address:x}: the address is not page aligned; expected a multiple of 0x1000.", address, 0);
        int index = VirtualAddress.PteIndex(address);
        if (nr <= 0 || nr > VirtualAddress.EntriesPerTable - index)
        {
            AddressChecks.Throw(
                $"Cannot {what} at 0x{address:x}: {nr} entries from slot {index} do not fit the PTE table; expected 1..{VirtualAddress.EntriesPerTable - index}.",
                address, (ulong)Math.Max(nr, 0) << PageGeometry.PageShift);
        }
    }

    /// <summary>
    /// Frees every table, whatever it still maps (Linux <c>exit_mmap</c>'s teardown). The arena
    /// must still be alive; the caller holds the address space exclusively.
    /// </summary>
    public void Dispose()
    {
        if (_disposed || _arena.IsDisposed)
        {
            _disposed = true;
            return;
        }

        Pte* pgd = EntriesOf(_pgd);
        for (int i = 0; i < VirtualAddress.EntriesPerTable; i++)
        {
            Pte e = pgd[i];
            if (!e.IsTable)
                continue;
            uint pudTable = (uint)e.Pfn;
            Pte* puds = EntriesOf(pudTable);
            for (int j = 0; j < VirtualAddress.EntriesPerTable; j++)
            {
                if (!puds[j].IsTable)
                    continue;
                uint pmdTable = (uint)puds[j].Pfn;
                Pte* pmds = EntriesOf(pmdTable);
                for (int k = 0; k < VirtualAddress.EntriesPerTable; k++)
                {
                    if (pmds[k].IsTable)
                        FreeTable((uint)pmds[k].Pfn, teardown: true);
                }

                for (uint dep = WithdrawLocked(pmdTable); dep != PageDescriptor.Nil; dep = WithdrawLocked(pmdTable))
                    FreeTable(dep, teardown: true);
                FreeTable(pmdTable, teardown: true);
            }

            FreeTable(pudTable, teardown: true);
        }

        FreeTable(_pgd, teardown: true);
        _disposed = true;
    }
}
