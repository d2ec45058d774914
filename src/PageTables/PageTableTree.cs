using System;
using System.Collections.Generic;
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
public sealed unsafe class PageTableTree : IDisposable
{
    /// <summary>The flags of an entry pointing at a lower table (x86 <c>_PAGE_TABLE</c>).</summary>
    public const PteFlags TableEntryFlags = PteFlags.Present | PteFlags.Write | PteFlags.User | PteFlags.Accessed | PteFlags.Dirty;

    /// <summary>The mapcount word of a page-table page: PGTY_table in the top byte (Linux <c>__SetPageTable</c>).</summary>
    internal const uint PageTableTypeWord = (uint)PageType.Table << 24;

    private readonly Arena _arena;
    private readonly PageDescriptor* _pages;
    private readonly byte* _memory;
    private readonly uint _pgd;
    private long _tablePages;
    private RawSpinLock _pageTableLock;
    private bool _disposed;

    /// <summary>Creates an empty tree: one PGD page taken from <paramref name="arena"/>.</summary>
    /// <exception cref="OutOfMemoryException">The arena has no free page for the PGD.</exception>
    public PageTableTree(Arena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        arena.ThrowIfDisposed();
        _arena = arena;
        _pages = arena.Pages;
        _memory = arena.BaseAddress;
        if (!TryAllocateTable(out _pgd))
            ThrowHelper.ThrowOutOfMemory("No free page in the arena for a PGD.");
    }

    /// <summary>The arena the tables are pages of.</summary>
    public Arena Arena => _arena;

    /// <summary>The PFN of the top-level table (Linux <c>mm->pgd</c>).</summary>
    public uint PgdPfn => _pgd;

    /// <summary>Page-table pages in use, the PGD and deposited tables included (Linux <c>mm_pgtables_bytes</c> / 4 KiB).</summary>
    public long TablePages => Volatile.Read(ref _tablePages);

    /// <summary>Bytes of page tables (/proc/meminfo PageTables, in bytes).</summary>
    public long TableBytes => TablePages << PageGeometry.PageShift;

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
        table = default;
        WalkResult result = WalkToPmd(address, allocate, out uint pmdTable);
        if (result != WalkResult.Table)
            return result;

        Pte* pmdEntry = PmdEntryOf(pmdTable, address);
        Pte pmd = Read(pmdEntry);
        if (pmd.IsNone)
        {
            if (!allocate)
                return WalkResult.NoTable;
            result = InstallPteTable(pmdTable, pmdEntry);
            if (result != WalkResult.Table)
                return result;
            pmd = Read(pmdEntry);
        }

        if (pmd.IsLeafPmd)
            return WalkResult.PmdLeaf;

        uint ptePfn = (uint)pmd.Pfn;
        table = new PteTable(ptePfn, EntriesOf(ptePfn), _pages + ptePfn);
        return WalkResult.Table;
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
        return WalkPte(address, allocate: false, out PteTable table) == WalkResult.Table ? Read(table.At(address)) : Pte.None;
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
        Pte* slot = table.At(address);
        for (int i = 0; i < nr; i++)
        {
            slot[i] = first;
            first = first.NextPage;
        }

        DebugVm.CheckRun(slot, nr, address);
    }

    /// <summary>
    /// Clears <paramref name="nr"/> PTEs from <paramref name="address"/> (the PTE part of Linux
    /// <c>zap_pte_range</c>), reporting each entry that was not none to <paramref name="zapped"/>.
    /// The caller holds the table's lock.
    /// </summary>
    /// <returns>How many entries were not none.</returns>
    public static int ClearPtes(PteTable table, ulong address, int nr, List<ZappedEntry>? zapped)
    {
        CheckPteRun(table, address, nr, "clear PTEs");
        Debug.Assert(table.IsLocked, "clearing PTEs without the PTE table lock");
        Pte* slot = table.At(address);
        int cleared = 0;
        for (int i = 0; i < nr; i++)
        {
            Pte old = slot[i];
            if (old.IsNone)
                continue;
            slot[i] = Pte.None;
            cleared++;
            zapped?.Add(new ZappedEntry(address + ((ulong)i << PageGeometry.PageShift), old, IsPmdLeaf: false));
        }

        return cleared;
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
        int none = PteScan.CountNone(table.At(address), nr);
        if (none != nr)
        {
            table.Unlock();
            ulong busy = address + ((ulong)none << PageGeometry.PageShift);
            AddressChecks.Throw($"Cannot map PTEs at 0x{address:x}: the entry for 0x{busy:x} is {Read(table.At(busy))}; expected none.", busy, 0);
        }

        SetPtes(table, address, first, nr);
        table.Unlock();
        return WalkResult.Table;
    }

    /// <summary>
    /// Zaps every mapping in [<paramref name="start"/>, <paramref name="end"/>) (Linux
    /// <c>zap_page_range_single</c> / <c>unmap_page_range</c>): PTEs are cleared; a PMD leaf the
    /// range covers whole is cleared; one it covers in part is split first, then its PTEs in the
    /// range cleared. Tables stay (only <see cref="FreePageTables"/> frees them, as in Linux).
    /// </summary>
    /// <returns>How many entries (PTEs and PMD leaves) were cleared.</returns>
    /// <exception cref="BadAddressException">Bad range; nothing changed.</exception>
    /// <exception cref="OutOfMemoryException">A PMD leaf had to be split and no page was left for
    /// its PTE table; entries below that address were already cleared.</exception>
    public long ZapRange(ulong start, ulong end, List<ZappedEntry>? zapped)
    {
        ThrowIfDisposed();
        AddressChecks.CheckRange(start, end - start, "zap");
        long cleared = 0;
        ulong address = start;
        while (address < end)
        {
            ulong pmdStart = VirtualAddress.PmdAlignDown(address);
            ulong next = Math.Min(pmdStart + VirtualAddress.PmdSize, end);
            if (WalkToPmd(address, allocate: false, out uint pmdTable) != WalkResult.Table)
            {
                address = next;
                continue;
            }

            Pte* pmdEntry = PmdEntryOf(pmdTable, address);
            Pte pmd = Read(pmdEntry);
            if (pmd.IsNone)
            {
                address = next;
                continue;
            }

            if (pmd.IsLeafPmd)
            {
                if (address == pmdStart && next - address == VirtualAddress.PmdSize)
                {
                    Pte old = ClearPmdLeaf(address);
                    if (!old.IsNone)
                    {
                        cleared++;
                        zapped?.Add(new ZappedEntry(address, old, IsPmdLeaf: true));
                    }

                    address = next;
                    continue;
                }

                if (SplitPmdLeaf(address) == PmdSplitResult.OutOfMemory)
                    ThrowHelper.ThrowOutOfMemory($"Cannot zap 0x{address:x}..0x{next:x}: splitting the PMD leaf at 0x{pmdStart:x} needs a PTE table and the arena has no free page.");
            }

            if (WalkPte(address, allocate: false, out PteTable table) == WalkResult.Table)
            {
                table.Lock();
                cleared += ClearPtes(table, address, (int)((next - address) >> PageGeometry.PageShift), zapped);
                table.Unlock();
            }
            else
            {
                // A racing thread cleared the PMD between our read and the walk: nothing to zap.
                continue;
            }

            address = next;
        }

        return cleared;
    }

    // ---------------------------------------------------------------- PMD leaves

    /// <summary>
    /// Maps the 2 MiB at <paramref name="address"/> with one PMD leaf (Linux
    /// <c>set_pmd_at</c> in <c>__do_huge_pmd_anonymous_page</c>), allocating missing upper tables.
    /// With <paramref name="deposit"/>, a PTE table is allocated first and deposited beside the
    /// leaf (Linux <c>pgtable_trans_huge_deposit</c>), so a later split never needs memory; it
    /// counts in <see cref="TablePages"/> as it does in Linux's PageTables.
    /// </summary>
    /// <exception cref="BadAddressException">The address is not 2 MiB aligned or not in user space.</exception>
    /// <exception cref="ArgumentException">The entry is not a present leaf (Present | Huge) with a 2 MiB aligned PFN.</exception>
    public PmdInstallResult InstallPmdLeaf(ulong address, Pte leaf, bool deposit)
    {
        var none = default(NoInstallHook);
        return InstallPmdLeaf(address, leaf, deposit, ref none);
    }

    /// <summary>
    /// <see cref="InstallPmdLeaf(ulong, Pte, bool)"/> that runs <paramref name="hook"/> under the PMD
    /// lock right after the leaf is written: the fault path queues the new THP for deferred split
    /// there, as Linux does before <c>spin_unlock(vmf->ptl)</c>, so no thread that finds the leaf
    /// finds the folio half set up.
    /// </summary>
    internal PmdInstallResult InstallPmdLeaf<THook>(ulong address, Pte leaf, bool deposit, ref THook hook)
        where THook : struct, IPmdInstallHook
    {
        CheckPmdAddress(address, "install a PMD leaf");
        if (!leaf.IsLeafPmd || (leaf.Pfn & (VirtualAddress.EntriesPerTable - 1)) != 0)
            throw new ArgumentException($"Cannot install {leaf} at 0x{address:x}: expected a present Huge entry with a PFN aligned to 512 pages.", nameof(leaf));

        WalkResult walk = WalkToPmd(address, allocate: true, out uint pmdTable);
        if (walk == WalkResult.OutOfMemory)
            return PmdInstallResult.OutOfMemory;

        uint deposited = PageDescriptor.Nil;
        if (deposit && !TryAllocateTable(out deposited))
            return PmdInstallResult.OutOfMemory;

        Pte* pmdEntry = PmdEntryOf(pmdTable, address);
        ref RawSpinLock pmdLock = ref TableLock(pmdTable);
        pmdLock.Enter();
        if (!Read(pmdEntry).IsNone)
        {
            pmdLock.Exit();
            if (deposited != PageDescriptor.Nil)
                FreeTable(deposited);
            return PmdInstallResult.NotNone;
        }

        if (deposited != PageDescriptor.Nil)
            DepositLocked(pmdTable, deposited);
        Write(pmdEntry, leaf);
        hook.Installed(leaf);
        pmdLock.Exit();
        return PmdInstallResult.Installed;
    }

    /// <summary>
    /// Clears the PMD leaf mapping <paramref name="address"/>'s 2 MiB (Linux <c>zap_huge_pmd</c>),
    /// freeing one deposited PTE table if there is one.
    /// </summary>
    /// <returns>The leaf as it was, or none when the PMD entry held no leaf (nothing changed).</returns>
    /// <exception cref="BadAddressException">The address is not in user space.</exception>
    public Pte ClearPmdLeaf(ulong address)
    {
        CheckUserAddress(address, "clear a PMD leaf");
        if (WalkToPmd(address, allocate: false, out uint pmdTable) != WalkResult.Table)
            return Pte.None;

        Pte* pmdEntry = PmdEntryOf(pmdTable, address);
        ref RawSpinLock pmdLock = ref TableLock(pmdTable);
        pmdLock.Enter();
        Pte old = Read(pmdEntry);
        if (!old.IsLeafPmd)
        {
            pmdLock.Exit();
            return Pte.None;
        }

        Write(pmdEntry, Pte.None);
        uint deposited = WithdrawLocked(pmdTable);
        pmdLock.Exit();
        if (deposited != PageDescriptor.Nil)
            FreeTable(deposited);
        return old;
    }

    /// <summary>
    /// Linux <c>split_huge_pmd</c>: replaces the PMD leaf over <paramref name="address"/> with a
    /// PTE table mapping the same 512 pages with the same bits (a deposited table if there is one,
    /// else a new one). A leaf marked special (the huge zero page) is split as Linux's
    /// <c>__split_huge_zero_page_pmd</c> does: every PTE becomes <paramref name="zeroPte"/>, the 4 KiB
    /// zero page, when one is given.
    /// </summary>
    /// <exception cref="BadAddressException">The address is not in user space.</exception>
    public PmdSplitResult SplitPmdLeaf(ulong address, Pte zeroPte = default)
    {
        var none = default(NoSplitHook);
        return SplitPmdLeaf(address, zeroPte, ref none);
    }

    /// <summary>
    /// <see cref="SplitPmdLeaf(ulong, Pte)"/> that runs <paramref name="hook"/> under the PMD lock,
    /// after the PTEs are written and before the PMD entry points at them: the fault path moves the
    /// folio's rmap from the PMD to the PTEs there (Linux <c>__split_huge_pmd_locked</c>), so no
    /// other thread ever sees the PTEs with the PMD's counts.
    /// </summary>
    internal PmdSplitResult SplitPmdLeaf<THook>(ulong address, Pte zeroPte, ref THook hook)
        where THook : struct, IPmdSplitHook
    {
        CheckUserAddress(address, "split a PMD leaf");
        if (WalkToPmd(address, allocate: false, out uint pmdTable) != WalkResult.Table)
            return PmdSplitResult.NotLeaf;

        Pte* pmdEntry = PmdEntryOf(pmdTable, address);
        ref RawSpinLock pmdLock = ref TableLock(pmdTable);
        pmdLock.Enter();
        if (!Read(pmdEntry).IsLeafPmd)
        {
            pmdLock.Exit();
            return PmdSplitResult.NotLeaf;
        }

        uint ptePfn = WithdrawLocked(pmdTable);
        if (ptePfn == PageDescriptor.Nil)
        {
            // Nothing deposited: allocate with no lock held, then look again.
            pmdLock.Exit();
            if (!TryAllocateTable(out ptePfn))
                return PmdSplitResult.OutOfMemory;
            pmdLock.Enter();
            if (!Read(pmdEntry).IsLeafPmd)
            {
                pmdLock.Exit();
                FreeTable(ptePfn);
                return PmdSplitResult.NotLeaf;
            }
        }

        Pte leaf = Read(pmdEntry);
        Pte* ptes = EntriesOf(ptePfn);
        if (leaf.IsSpecial && !zeroPte.IsNone)
        {
            for (int i = 0; i < VirtualAddress.EntriesPerTable; i++)
                ptes[i] = zeroPte;
        }
        else
        {
            Pte pte = leaf.Without(PteFlags.Huge);
            for (int i = 0; i < VirtualAddress.EntriesPerTable; i++)
            {
                ptes[i] = pte;
                pte = pte.NextPage;
            }

            DebugVm.CheckRun(ptes, VirtualAddress.EntriesPerTable, address & ~(VirtualAddress.PmdSize - 1));
        }

        hook.BeforePublish(leaf);
        Write(pmdEntry, Pte.Make(ptePfn, TableEntryFlags));
        pmdLock.Exit();
        return PmdSplitResult.Split;
    }

    /// <summary>
    /// Replaces the PMD leaf over <paramref name="address"/> with <paramref name="replacement"/> if it
    /// still is <paramref name="expected"/> (Linux <c>pmd_same</c> under the PMD lock, then
    /// <c>pmdp_huge_clear_flush</c> and <c>set_pmd_at</c>, as <c>do_huge_zero_wp_pmd</c> does). The
    /// deposited PTE table stays, now beside the new leaf.
    /// </summary>
    /// <returns>False when the entry changed (nothing written).</returns>
    /// <exception cref="BadAddressException">The address is not 2 MiB aligned or not in user space.</exception>
    /// <exception cref="ArgumentException">The replacement is not a present leaf with a 512-page aligned PFN.</exception>
    public bool TryReplacePmdLeaf(ulong address, Pte expected, Pte replacement)
    {
        CheckPmdAddress(address, "replace a PMD leaf");
        if (!replacement.IsLeafPmd || (replacement.Pfn & (VirtualAddress.EntriesPerTable - 1)) != 0)
            throw new ArgumentException($"Cannot install {replacement} at 0x{address:x}: expected a present Huge entry with a PFN aligned to 512 pages.", nameof(replacement));
        if (WalkToPmd(address, allocate: false, out uint pmdTable) != WalkResult.Table)
            return false;

        Pte* pmdEntry = PmdEntryOf(pmdTable, address);
        ref RawSpinLock pmdLock = ref TableLock(pmdTable);
        pmdLock.Enter();
        bool same = Read(pmdEntry) == expected && expected.IsLeafPmd;
        if (same)
            Write(pmdEntry, replacement);
        pmdLock.Exit();
        return same;
    }

    /// <summary>
    /// Linux <c>try_to_free_pte</c> (CONFIG_PT_RECLAIM, after MADV_DONTNEED zapped a whole PMD's
    /// range): when the PTE table under <paramref name="address"/>'s PMD entry is all none, clears
    /// the PMD entry and frees the table. The caller holds the address space exclusively, so no
    /// walker still holds the table.
    /// </summary>
    /// <returns>True when a table was freed.</returns>
    /// <exception cref="BadAddressException">The address is not in user space.</exception>
    public bool TryFreeEmptyPteTable(ulong address)
    {
        CheckUserAddress(address, "free an empty PTE table");
        if (WalkToPmd(address, allocate: false, out uint pmdTable) != WalkResult.Table)
            return false;

        Pte* pmdEntry = PmdEntryOf(pmdTable, address);
        ref RawSpinLock pmdLock = ref TableLock(pmdTable);
        pmdLock.Enter();
        Pte pmd = Read(pmdEntry);
        if (!pmd.IsTable)
        {
            pmdLock.Exit();
            return false;
        }

        uint ptePfn = (uint)pmd.Pfn;
        ref RawSpinLock pteLock = ref TableLock(ptePfn);
        pteLock.Enter();
        bool empty = PteScan.AllNone(EntriesOf(ptePfn), VirtualAddress.EntriesPerTable);
        if (empty)
            Write(pmdEntry, Pte.None);
        pteLock.Exit();
        pmdLock.Exit();
        if (empty)
            FreeTable(ptePfn);
        return empty;
    }

    /// <summary>PTE tables deposited beside the PMD leaves of the PMD table covering <paramref name="address"/>.</summary>
    public int DepositedTables(ulong address)
    {
        CheckUserAddress(address, "count deposited tables");
        if (WalkToPmd(address, allocate: false, out uint pmdTable) != WalkResult.Table)
            return 0;
        int count = 0;
        for (uint pfn = _pages[pmdTable].ListNext; pfn != PageDescriptor.Nil; pfn = _pages[pfn].ListNext)
            count++;
        return count;
    }

    // ---------------------------------------------------------------- freeing tables

    /// <summary>
    /// Linux <c>free_pgd_range</c>: after [<paramref name="start"/>, <paramref name="end"/>) was
    /// unmapped and zapped, frees the PTE tables over it, and the PMD and PUD tables whose whole
    /// span lies between <paramref name="floor"/> (the end of the mapping below, or 0) and
    /// <paramref name="ceiling"/> (the start of the mapping above, or 0 for none), so no table a
    /// neighbour may still use is freed. The caller holds the address space exclusively.
    /// </summary>
    /// <returns>How many table pages were freed.</returns>
    /// <exception cref="BadAddressException">Bad range, or a table to be freed still maps something
    /// (zap it first); nothing changed.</exception>
    public int FreePageTables(ulong start, ulong end, ulong floor, ulong ceiling)
    {
        ThrowIfDisposed();
        AddressChecks.CheckRange(start, end - start, "free page tables");

        // The top of free_pgd_range: round to whole PMDs inside [floor, ceiling).
        ulong addr = start & ~(VirtualAddress.PmdSize - 1);
        if (addr < floor)
        {
            addr += VirtualAddress.PmdSize;
            if (addr == 0)
                return 0;
        }

        if (ceiling != 0)
        {
            ceiling &= ~(VirtualAddress.PmdSize - 1);
            if (ceiling == 0)
                return 0;
        }

        if (end - 1 > ceiling - 1)
            end -= VirtualAddress.PmdSize;
        if (addr > end - 1)
            return 0;

        var plan = new List<(nint Entry, uint Table)>();
        PlanPgdRange(addr, end, floor, ceiling, plan);
        foreach (var (entry, table) in plan)
        {
            Write((Pte*)entry, Pte.None);
            FreeTable(table);
        }

        return plan.Count;
    }

    // Linux free_p4d_range/free_pud_range with p4d folded: visits every PUD table under the range,
    // then frees it only if its 512 GiB span lies inside [floor, ceiling). A table that would still
    // point at a lower table is kept (Linux assumes none can; keeping it leaks nothing).
    private void PlanPgdRange(ulong addr, ulong end, ulong floor, ulong ceiling, List<(nint Entry, uint Table)> plan)
    {
        Pte* pgd = EntriesOf(_pgd);
        for (ulong a = addr; a <= end - 1;)
        {
            ulong next = NextBoundary(a, VirtualAddress.PgdShift, end);
            Pte* entry = pgd + VirtualAddress.PgdIndex(a);
            Pte e = Read(entry);
            if (e.IsTable)
            {
                uint pud = (uint)e.Pfn;
                int freed = PlanPudTable(pud, a, next, floor, ceiling, plan);
                if (SpanInside(a, next, VirtualAddress.PgdShift, floor, ceiling) && freed == UsedEntries(pud))
                    plan.Add(((nint)entry, pud));
            }

            a = next;
        }
    }

    private int PlanPudTable(uint pudTable, ulong addr, ulong end, ulong floor, ulong ceiling, List<(nint Entry, uint Table)> plan)
    {
        Pte* puds = EntriesOf(pudTable);
        int freed = 0;
        for (ulong a = addr; a <= end - 1;)
        {
            ulong next = NextBoundary(a, VirtualAddress.PudShift, end);
            Pte* entry = puds + VirtualAddress.PudIndex(a);
            Pte e = Read(entry);
            if (e.IsTable)
            {
                uint pmd = (uint)e.Pfn;
                int ptes = PlanPmdTable(pmd, a, next, plan);
                if (SpanInside(a, next, VirtualAddress.PudShift, floor, ceiling) && ptes == UsedEntries(pmd))
                {
                    plan.Add(((nint)entry, pmd));
                    freed++;
                }
            }

            a = next;
        }

        return freed;
    }

    // free_pte_range for every PMD entry in [addr, end): each PTE table there must be empty.
    private int PlanPmdTable(uint pmdTable, ulong addr, ulong end, List<(nint Entry, uint Table)> plan)
    {
        Pte* pmds = EntriesOf(pmdTable);
        int freed = 0;
        for (ulong a = addr; a <= end - 1; a = NextBoundary(a, VirtualAddress.PmdShift, end))
        {
            Pte* entry = pmds + VirtualAddress.PmdIndex(a);
            Pte e = Read(entry);
            ulong pmdStart = VirtualAddress.PmdAlignDown(a);
            if (e.IsLeafPmd)
                AddressChecks.Throw($"Cannot free the page tables at 0x{pmdStart:x}: a PMD leaf ({e}) still maps it; expected it zapped first.", pmdStart, 0);
            if (!e.IsTable)
                continue;
            uint pte = (uint)e.Pfn;
            int none = PteScan.CountNone(EntriesOf(pte), VirtualAddress.EntriesPerTable);
            if (none != VirtualAddress.EntriesPerTable)
            {
                ulong mapped = pmdStart + ((ulong)none << PageGeometry.PageShift);
                AddressChecks.Throw($"Cannot free the PTE table at 0x{pmdStart:x}: it still maps 0x{mapped:x} ({Read(EntriesOf(pte) + none)}); expected it zapped first.", mapped, 0);
            }

            plan.Add(((nint)entry, pte));
            freed++;
        }

        return freed;
    }

    private int UsedEntries(uint table)
    {
        Pte* entries = EntriesOf(table);
        int used = 0;
        for (int i = 0; i < VirtualAddress.EntriesPerTable; i++)
            used += entries[i].IsNone ? 0 : 1;
        return used;
    }

    // The bottom of free_pmd_range/free_pud_range: after visiting [addr, end) under one entry of
    // the level above, the table that entry points at is freed only when the whole span of that
    // entry (1 << spanShift bytes) lies inside [floor, ceiling), tested as Linux tests it.
    private static bool SpanInside(ulong addr, ulong end, int spanShift, ulong floor, ulong ceiling)
    {
        ulong mask = ~((1UL << spanShift) - 1);
        if ((addr & mask) < floor)
            return false;
        if (ceiling != 0)
        {
            ceiling &= mask;
            if (ceiling == 0)
                return false;
        }

        return end - 1 <= ceiling - 1;
    }

    private static ulong NextBoundary(ulong address, int shift, ulong end)
    {
        ulong boundary = (address + (1UL << shift)) & ~((1UL << shift) - 1);
        return boundary - 1 < end - 1 ? boundary : end;
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

    /// <summary>The PFN of the PMD table covering <paramref name="address"/>, or -1 (for tests and the validator).</summary>
    internal long ReadPmdTablePfn(ulong address)
    {
        CheckUserAddress(address, "find a PMD table");
        return WalkToPmd(address, allocate: false, out uint pmdTable) == WalkResult.Table ? pmdTable : -1;
    }

    // ---------------------------------------------------------------- the fault path's walks
    // Callers (the fault path) have checked that the address lies in a VMA, hence in user space,
    // and hold the mmap lock, so the tree is not being torn down.

    /// <summary>
    /// <c>__handle_mm_fault</c>'s descent: the PMD entry covering <paramref name="address"/>, with
    /// missing PUD and PMD tables allocated when <paramref name="allocate"/> (<c>pud_alloc</c>,
    /// <c>pmd_alloc</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal WalkResult FindPmdEntry(ulong address, bool allocate, out uint pmdTable, out Pte* pmdEntry)
    {
        Debug.Assert(address < VirtualAddress.TaskSize && !_disposed, "fault-path walk outside user space or after teardown");
        WalkResult result = WalkToPmd(address, allocate, out pmdTable);
        pmdEntry = result == WalkResult.Table ? PmdEntryOf(pmdTable, address) : null;
        return result;
    }

    /// <summary>
    /// <c>pte_alloc</c> and <c>pte_offset_map</c> on a PMD entry <see cref="FindPmdEntry"/> found: the
    /// PTE table under it, installed if the entry is none; <see cref="WalkResult.PmdLeaf"/> when a
    /// leaf is there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal WalkResult PteTableOf(uint pmdTable, Pte* pmdEntry, bool allocate, out PteTable table)
    {
        Pte pmd = Read(pmdEntry);
        if (pmd.IsNone)
        {
            table = default;
            if (!allocate)
                return WalkResult.NoTable;
            WalkResult installed = InstallPteTable(pmdTable, pmdEntry);
            if (installed != WalkResult.Table)
                return installed;
            pmd = Read(pmdEntry);
        }

        if (pmd.IsLeafPmd)
        {
            table = default;
            return WalkResult.PmdLeaf;
        }

        uint ptePfn = (uint)pmd.Pfn;
        table = new PteTable(ptePfn, EntriesOf(ptePfn), _pages + ptePfn);
        return WalkResult.Table;
    }

    /// <summary>
    /// What the MMU finds for <paramref name="address"/>: the PTE, or for a PMD leaf the PTE its
    /// page would have (the page's PFN, the leaf's bits less Huge); none when nothing maps it. One
    /// descent, no allocation, no lock (a hardware walk).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
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

    /// <summary>The split lock of the table page <paramref name="pfn"/> (see <see cref="PteTable.LockOf"/>).</summary>
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

    // Linux pgtable_trans_huge_deposit/withdraw: a stack of spare PTE tables threaded through the
    // table pages' descriptors (offset 16, where Linux's ptdesc keeps pmd_huge_pte), headed in the
    // PMD table's descriptor. Caller holds the PMD table's lock.
    private void DepositLocked(uint pmdTable, uint table)
    {
        _pages[table].ListNext = _pages[pmdTable].ListNext;
        _pages[pmdTable].ListNext = table;
    }

    private uint WithdrawLocked(uint pmdTable)
    {
        uint table = _pages[pmdTable].ListNext;
        if (table != PageDescriptor.Nil)
        {
            _pages[pmdTable].ListNext = _pages[table].ListNext;
            _pages[table].ListNext = PageDescriptor.Nil;
        }

        return table;
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
            // side page, found through the descriptor.
            memory = SidePagePool.Rent();
            page->Mapping = (ulong)memory;
        }

        NativeMemory.Clear(memory, PageGeometry.PageSize);
        page->PageTypeWord = PageTableTypeWord;
        page->Private = 0;
        page->ListNext = PageDescriptor.Nil;
        long tables = Interlocked.Increment(ref _tablePages);
        if (LargeFoliosEventSource.IsOn)
            LargeFoliosEventSource.Log.PageTableAllocated(_arena.Id, pfn, tables);
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
            SidePagePool.Return((void*)page->Mapping);
        page->Mapping = 0;
        page->Private = 0;
        page->PageTypeWord = unchecked((uint)PageDescriptor.NoMapcount);
        _arena.Free(_arena.FolioOf(pfn));
        long tables = Interlocked.Decrement(ref _tablePages);
        if (LargeFoliosEventSource.IsOn)
            LargeFoliosEventSource.Log.PageTableFreed(_arena.Id, pfn, tables);
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
