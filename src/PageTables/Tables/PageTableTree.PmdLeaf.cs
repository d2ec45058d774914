using System;
using System.Diagnostics;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>PMD leaves: installing, clearing, replacing and splitting them, and their deposited PTE tables.</summary>
public sealed unsafe partial class PageTableTree
{
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
        CheckPmdAddress(address, "install a PMD leaf");
        CheckPmdLeaf(address, leaf, nameof(leaf));
        if (FindPmd(address, allocate: true, out PmdSlot pmd) == WalkResult.OutOfMemory)
            return PmdInstallResult.OutOfMemory;
        var none = default(NoInstallHook);
        return InstallPmdLeaf(in pmd, leaf, deposit, ref none);
    }

    /// <summary>
    /// <see cref="InstallPmdLeaf(ulong, Pte, bool)"/> into an entry a walk found, running
    /// <paramref name="hook"/> under the PMD lock right after the leaf is written: the fault path
    /// queues the new THP for deferred split there, as Linux does before
    /// <c>spin_unlock(vmf->ptl)</c>, so no thread that finds the leaf finds the folio half set up.
    /// </summary>
    [LayerInterface]
    internal PmdInstallResult InstallPmdLeaf<THook>(in PmdSlot pmd, Pte leaf, bool deposit, ref THook hook)
        where THook : struct, IPmdInstallHook
    {
        CheckPmdLeaf(pmd.Start, leaf, nameof(leaf));
        uint deposited = PageDescriptor.Nil;
        if (deposit && !TryAllocateTable(out deposited))
            return PmdInstallResult.OutOfMemory;

        ref RawSpinLock pmdLock = ref TableLock(pmd.TablePfn);
        pmdLock.Enter();
        if (!Read(pmd.Entry).IsNone)
        {
            pmdLock.Exit();
            if (deposited != PageDescriptor.Nil)
                FreeTable(deposited);
            return PmdInstallResult.NotNone;
        }

        if (deposited != PageDescriptor.Nil)
            DepositLocked(pmd.TablePfn, deposited);
        Write(pmd.Entry, leaf);
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
        return FindPmd(address, allocate: false, out PmdSlot pmd) == WalkResult.Table ? ClearPmdLeaf(in pmd) : Pte.None;
    }

    /// <summary><see cref="ClearPmdLeaf(ulong)"/> of an entry a walk found.</summary>
    [LayerInterface]
    internal Pte ClearPmdLeaf(in PmdSlot pmd)
    {
        ref RawSpinLock pmdLock = ref TableLock(pmd.TablePfn);
        pmdLock.Enter();
        Pte old = Read(pmd.Entry);
        if (!old.IsLeafPmd)
        {
            pmdLock.Exit();
            return Pte.None;
        }

        Write(pmd.Entry, Pte.None);
        uint deposited = WithdrawLocked(pmd.TablePfn);
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
        CheckUserAddress(address, "split a PMD leaf");
        if (FindPmd(address, allocate: false, out PmdSlot pmd) != WalkResult.Table)
            return PmdSplitResult.NotLeaf;
        var none = default(NoSplitHook);
        return SplitPmdLeaf(in pmd, zeroPte, ref none);
    }

    /// <summary>
    /// <see cref="SplitPmdLeaf(ulong, Pte)"/> of an entry a walk found, running
    /// <paramref name="hook"/> under the PMD lock after the PTEs are written and before the PMD entry
    /// points at them: the fault path moves the folio's rmap from the PMD to the PTEs there (Linux
    /// <c>__split_huge_pmd_locked</c>), so no other thread ever sees the PTEs with the PMD's counts.
    /// </summary>
    [LayerInterface]
    internal PmdSplitResult SplitPmdLeaf<THook>(in PmdSlot pmd, Pte zeroPte, ref THook hook)
        where THook : struct, IPmdSplitHook
    {
        Pte* pmdEntry = pmd.Entry;
        ref RawSpinLock pmdLock = ref TableLock(pmd.TablePfn);
        pmdLock.Enter();
        if (!Read(pmdEntry).IsLeafPmd)
        {
            pmdLock.Exit();
            return PmdSplitResult.NotLeaf;
        }

        uint ptePfn = WithdrawLocked(pmd.TablePfn);
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

            DebugVm.CheckRun(ptes, VirtualAddress.EntriesPerTable, pmd.Start);
        }

        hook.BeforePublish(leaf);
        Write(pmdEntry, Pte.Make(ptePfn, TableEntryFlags));
        pmdLock.Exit();
        if (PageTableEventSource.IsOn)
            PageTableEventSource.Log.PmdSplit(_arena.Id, _ownerId, pmd.Start, leaf.IsSpecial ? PmdSplitKind.HugeZeroPage : PmdSplitKind.Folio);
        return PmdSplitResult.Split;
    }

    /// <summary>
    /// Linux <c>split_huge_pmd_locked(..., freeze=true)</c> as a split of a folio needs it: the PMD
    /// leaf, if it is still <paramref name="expected"/>, is replaced by its deposited PTE table with
    /// every entry none, and that table comes back locked, so that no fault sees the none entries
    /// (Linux leaves migration entries for that) until the caller has put the pages back and unlocks
    /// it. The leaf's rmap is the caller's to remove; nothing else is done for it.
    /// </summary>
    /// <returns><see cref="PmdSplitResult.Split"/>; <see cref="PmdSplitResult.NotLeaf"/> when the entry changed; <see cref="PmdSplitResult.OutOfMemory"/> with no table deposited and none to allocate.</returns>
    [LayerInterface]
    internal PmdSplitResult FreezePmdLeaf(in PmdSlot pmd, Pte expected, out PteTable table)
    {
        table = default;
        ref RawSpinLock pmdLock = ref TableLock(pmd.TablePfn);
        pmdLock.Enter();
        if (Read(pmd.Entry) != expected)
        {
            pmdLock.Exit();
            return PmdSplitResult.NotLeaf;
        }

        uint ptePfn = WithdrawLocked(pmd.TablePfn);
        if (ptePfn == PageDescriptor.Nil)
        {
            pmdLock.Exit();
            if (!TryAllocateTable(out ptePfn))
                return PmdSplitResult.OutOfMemory;
            pmdLock.Enter();
            if (Read(pmd.Entry) != expected)
            {
                pmdLock.Exit();
                FreeTable(ptePfn);
                return PmdSplitResult.NotLeaf;
            }
        }

        Pte* ptes = EntriesOf(ptePfn);
        new Span<Pte>(ptes, VirtualAddress.EntriesPerTable).Clear();
        table = new PteTable(ptePfn, ptes, _pages + ptePfn);
        table.Lock();   // not yet visible: uncontended
        Write(pmd.Entry, Pte.Make(ptePfn, TableEntryFlags));
        pmdLock.Exit();
        if (PageTableEventSource.IsOn)
            PageTableEventSource.Log.PmdSplit(_arena.Id, _ownerId, pmd.Start, PmdSplitKind.Folio);
        return PmdSplitResult.Split;
    }

    /// <summary>
    /// Linux <c>collapse_huge_page</c>'s install: the PTE table under <paramref name="pmd"/> (emptied by
    /// the caller) becomes the table deposited beside <paramref name="leaf"/>, which takes its place
    /// (<c>pgtable_trans_huge_deposit</c>, <c>set_pmd_at</c>). The table count does not change.
    /// </summary>
    [LayerInterface]
    internal void CollapsePteTable(in PmdSlot pmd, Pte leaf)
    {
        CheckPmdLeaf(pmd.Start, leaf, nameof(leaf));
        ref RawSpinLock pmdLock = ref TableLock(pmd.TablePfn);
        pmdLock.Enter();
        Pte entry = Read(pmd.Entry);
        Debug.Assert(entry.IsTable, "a collapse without a PTE table");
        uint table = (uint)entry.Pfn;
        DebugVm.CheckEmptyTable(this, table);
        DepositLocked(pmd.TablePfn, table);
        Write(pmd.Entry, leaf);
        pmdLock.Exit();
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
        CheckPmdLeaf(address, replacement, nameof(replacement));
        return FindPmd(address, allocate: false, out PmdSlot pmd) == WalkResult.Table && TryReplacePmdLeaf(in pmd, expected, replacement);
    }

    /// <summary><see cref="TryReplacePmdLeaf(ulong, Pte, Pte)"/> of an entry a walk found.</summary>
    [LayerInterface]
    internal bool TryReplacePmdLeaf(in PmdSlot pmd, Pte expected, Pte replacement)
    {
        var nothing = default(NoInstallHook);
        return TryReplacePmdLeaf(in pmd, expected, replacement, ref nothing);
    }

    /// <summary><see cref="TryReplacePmdLeaf(in PmdSlot, Pte, Pte)"/>, telling <paramref name="hook"/> of the new leaf before the PMD lock is dropped.</summary>
    [LayerInterface]
    internal bool TryReplacePmdLeaf<THook>(in PmdSlot pmd, Pte expected, Pte replacement, ref THook hook)
        where THook : struct, IPmdInstallHook
    {
        CheckPmdLeaf(pmd.Start, replacement, nameof(replacement));
        ref RawSpinLock pmdLock = ref TableLock(pmd.TablePfn);
        pmdLock.Enter();
        bool same = Read(pmd.Entry) == expected && expected.IsLeafPmd;
        if (same)
        {
            Write(pmd.Entry, replacement);
            hook.Installed(replacement);
        }

        pmdLock.Exit();
        return same;
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

    private static void CheckPmdLeaf(ulong address, Pte leaf, string parameter)
    {
        if (!leaf.IsLeafPmd || (leaf.Pfn & (VirtualAddress.EntriesPerTable - 1)) != 0)
            throw new ArgumentException($"Cannot install {leaf} at 0x{address:x}: expected a present Huge entry with a PFN aligned to 512 pages.", parameter);
    }
}
