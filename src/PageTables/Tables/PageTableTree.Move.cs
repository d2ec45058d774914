using System.Diagnostics;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// Moving page tables whole (Linux mm/mremap.c <c>move_normal_pud</c>, <c>move_normal_pmd</c>,
/// <c>move_huge_pmd</c>): what makes an aligned mremap cost page-table entries, not pages. The
/// caller holds the address space exclusively (the mmap lock for write), as <c>mremap</c> does.
/// </summary>
public sealed unsafe partial class PageTableTree
{
    /// <summary>Whether a PMD table covers <paramref name="address"/> (Linux: the PUD entry is not none).</summary>
    [LayerInterface]
    internal bool HasPmdTable(ulong address)
    {
        Debug.Assert(address < VirtualAddress.TaskSize && !_disposed, "a move outside user space or after teardown");
        Pte pgd = Read(EntriesOf(_pgd) + VirtualAddress.PgdIndex(address));
        return pgd.IsTable && Read(EntriesOf((uint)pgd.Pfn) + VirtualAddress.PudIndex(address)).IsTable;
    }

    /// <summary>Linux <c>alloc_new_pud</c>: the table of PUD entries for <paramref name="address"/>, allocated if missing.</summary>
    /// <returns>False when no table could be had (the arena or the host-memory bound is exhausted).</returns>
    [LayerInterface]
    internal bool EnsurePudTable(ulong address) =>
        Descend(EntriesOf(_pgd) + VirtualAddress.PgdIndex(address), allocate: true, out _) == WalkResult.Table;

    /// <summary>
    /// Linux <c>move_normal_pud</c>: the PMD table covering the 1 GiB at <paramref name="from"/> (with
    /// every PTE table, leaf and deposit under it) becomes the one at <paramref name="to"/>, whose PUD
    /// entry must be none; both 1 GiB aligned, the PUD table for <paramref name="to"/> present.
    /// </summary>
    /// <returns>False when the destination entry is not none (nothing moved).</returns>
    [LayerInterface]
    internal bool TryMovePmdTable(ulong from, ulong to)
    {
        Debug.Assert((from & ((1UL << VirtualAddress.PudShift) - 1)) == 0 && (to & ((1UL << VirtualAddress.PudShift) - 1)) == 0, "a PUD move of unaligned addresses");
        Pte* source = PudEntryOf(from);
        Pte* target = PudEntryOf(to);
        Debug.Assert(source != null && target != null, "a PUD move without the PUD tables");
        _pageTableLock.Enter();
        bool moved = Read(target).IsNone;
        if (moved)
        {
            Write(target, Read(source));
            Write(source, Pte.None);
        }

        _pageTableLock.Exit();
        return moved;
    }

    /// <summary>
    /// Linux <c>move_normal_pmd</c> / <c>move_huge_pmd</c>: the PMD entry <paramref name="from"/> (a PTE
    /// table, or a leaf with its deposited table) becomes the entry <paramref name="to"/>, which must be
    /// none; both found with <see cref="FindPmd"/>.
    /// </summary>
    /// <returns>False when the destination entry is not none (nothing moved).</returns>
    [LayerInterface]
    internal bool TryMovePmdEntry(in PmdSlot from, in PmdSlot to)
    {
        uint first = from.TablePfn < to.TablePfn ? from.TablePfn : to.TablePfn;
        uint second = from.TablePfn < to.TablePfn ? to.TablePfn : from.TablePfn;
        ref RawSpinLock firstLock = ref TableLock(first);
        firstLock.Enter();
        if (second != first)
            TableLock(second).Enter();
        Pte entry = Read(from.Entry);
        bool moved = Read(to.Entry).IsNone && !entry.IsNone;
        if (moved)
        {
            if (entry.IsLeafPmd && from.TablePfn != to.TablePfn)
            {
                uint deposited = WithdrawLocked(from.TablePfn);
                if (deposited != PageDescriptor.Nil)
                    DepositLocked(to.TablePfn, deposited);
            }

            Write(to.Entry, entry);
            Write(from.Entry, Pte.None);
        }

        if (second != first)
            TableLock(second).Exit();
        firstLock.Exit();
        return moved;
    }

    /// <summary>The PUD entry covering <paramref name="address"/>, or null when no PUD table does.</summary>
    private Pte* PudEntryOf(ulong address)
    {
        Pte pgd = Read(EntriesOf(_pgd) + VirtualAddress.PgdIndex(address));
        return pgd.IsTable ? EntriesOf((uint)pgd.Pfn) + VirtualAddress.PudIndex(address) : null;
    }
}
