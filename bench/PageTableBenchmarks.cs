using System;
using BenchmarkDotNet.Attributes;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;

namespace LargeFolios.Bench;

/// <summary>
/// The page-table work under one anonymous fault and its undoing, in a tree whose tables already
/// exist (the steady state of a populated region): mapping one 4 KiB page (walk, lock, none check,
/// set) and zapping it (a range walk, <see cref="TableZap"/>); setting and clearing a whole table's 512 PTEs in one batch, as an order-9
/// PTE-mapped folio would; and installing a 2 MiB PMD leaf with its deposited table, splitting it
/// into 512 PTEs and zapping them.
/// </summary>
public class PageTableBenchmarks
{
    private const ulong Base = 0x7f00_0000_0000;
    private static readonly Pte Entry = Pte.Make(0x100, PteFlags.Present | PteFlags.Write | PteFlags.User | PteFlags.Accessed | PteFlags.Dirty);
    private static readonly Pte Leaf = Pte.Make(0x200, PteFlags.Present | PteFlags.Write | PteFlags.User | PteFlags.Accessed | PteFlags.Dirty | PteFlags.Huge);

    private Arena _arena = null!;
    private PageTableTree _tree = null!;
    private PteTable _table;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _arena = new Arena(64L << 20);
        _tree = new PageTableTree(_arena);
        _tree.Walk(Base, allocate: true, out _table);
        _tree.Walk(Base + VirtualAddress.PmdSize, allocate: true, out _);
        _tree.ZapRange(Base + VirtualAddress.PmdSize, Base + 2 * VirtualAddress.PmdSize, null);
        _tree.FreePageTables(Base + VirtualAddress.PmdSize, Base + 2 * VirtualAddress.PmdSize, Base + 0x1000, 0);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tree.Dispose();
        _arena.Dispose();
    }

    /// <summary>One fault's page-table work at order 0 (walk, lock, pte_none, set_ptes) and one page's zap.</summary>
    [Benchmark]
    public long MapAndZapOnePage()
    {
        ulong address = Base + ((ulong)(_next++ & 511) << 12);
        _tree.MapPtes(address, Entry, 1);
        return _tree.ZapRange(address, address + 0x1000, null);
    }

    /// <summary>set_ptes of 512 entries under the table lock, then clearing them: an order-9 folio mapped by PTEs.</summary>
    [Benchmark]
    public int SetAndClear512Ptes()
    {
        _table.Lock();
        PageTableTree.SetPtes(_table, Base, Entry, VirtualAddress.EntriesPerTable);
        Span<Pte> slot = _table.Entries;
        int cleared = 0;
        for (int i = 0; i < slot.Length; i++)
        {
            cleared += slot[i].IsNone ? 0 : 1;
            slot[i] = Pte.None;
        }

        _table.Unlock();
        return cleared;
    }

    /// <summary>A PMD leaf with its deposit, split_huge_pmd into 512 PTEs, the PTEs zapped and the table freed.</summary>
    [Benchmark]
    public int InstallSplitAndZapPmdLeaf()
    {
        ulong address = Base + VirtualAddress.PmdSize;
        _tree.InstallPmdLeaf(address, Leaf, deposit: true);
        _tree.SplitPmdLeaf(address);
        _tree.ZapRange(address, address + VirtualAddress.PmdSize, null);
        return _tree.FreePageTables(address, address + VirtualAddress.PmdSize, Base + 0x1000, 0);
    }
}
