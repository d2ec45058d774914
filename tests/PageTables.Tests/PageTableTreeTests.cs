using System.Collections.Generic;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.PageTables.Tests.TestArenas;

namespace LargeFolios.PageTables.Tests;

public unsafe class PageTableTreeTests
{
    [Fact]
    public void A_new_tree_is_one_pgd_page_taken_from_the_arena()
    {
        using var arena = BuddyOnly();
        long free = arena.FreePages;
        using var tree = new PageTableTree(arena);
        Assert.Equal(1, tree.TablePages);
        Assert.Equal(free - 1, arena.FreePages);
        ref readonly PageDescriptor pgd = ref arena.Page(tree.PgdPfn);
        Assert.Equal((uint)PageType.Table << 24, pgd.PageTypeWord);
        Assert.Equal(1, pgd.Refcount);
        tree.Validate();
    }

    [Fact]
    public void The_arena_accepts_live_table_pages_and_gets_them_back_clean()
    {
        using var arena = new Arena(32 * MiB);
        var tree = new PageTableTree(arena);
        tree.MapPtes(Base, Rw(0x100), 4);
        tree.InstallPmdLeaf(Base + Pmd, Leaf(0x200), deposit: true);
        arena.Validate();                                                   // typed live pages are legal
        tree.Dispose();
        arena.Validate();
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void A_walk_allocates_each_missing_level_once()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        Assert.Equal(WalkResult.NoTable, tree.Walk(Base, allocate: false, out _));
        Assert.Equal(WalkResult.Table, tree.Walk(Base, allocate: true, out PteTable first));
        Assert.Equal(4, tree.TablePages);                                   // PGD, PUD, PMD, PTE
        Assert.Equal(WalkResult.Table, tree.Walk(Base + Pmd - 0x1000, allocate: true, out PteTable same));
        Assert.Equal(first.Pfn, same.Pfn);
        Assert.Equal(4, tree.TablePages);
        Assert.Equal(WalkResult.Table, tree.Walk(Base + Pmd, allocate: true, out PteTable next));
        Assert.NotEqual(first.Pfn, next.Pfn);
        Assert.Equal(5, tree.TablePages);                                   // one more PTE table
        Assert.Equal(WalkResult.Table, tree.Walk(Base + (1UL << 30), allocate: true, out _));
        Assert.Equal(7, tree.TablePages);                                   // a PMD table and a PTE table
        Assert.Equal(WalkResult.Table, tree.Walk(Base, allocate: false, out PteTable again));
        Assert.Equal(first.Pfn, again.Pfn);
        tree.Validate();
    }

    [Fact]
    public void Set_ptes_maps_consecutive_pfns_with_the_same_bits()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        ulong address = Base + 0x10_000;
        Assert.Equal(WalkResult.Table, tree.MapPtes(address, Rw(0x400), 16));
        for (int i = 0; i < 16; i++)
        {
            Pte pte = tree.ReadPte(address + ((ulong)i << 12));
            Assert.Equal(0x400UL + (ulong)i, pte.Pfn);
            Assert.Equal(Rw(0).Flags, pte.Flags);
        }

        Assert.True(tree.ReadPte(address - 0x1000).IsNone);
        Assert.True(tree.ReadPte(address + 0x10_000).IsNone);
        tree.Validate();
    }

    [Fact]
    public void Set_ptes_under_the_table_lock_is_what_map_ptes_does()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        Assert.Equal(WalkResult.Table, tree.Walk(Base, allocate: true, out PteTable table));
        table.Lock();
        Assert.True(table.IsLocked);
        Assert.True(PteScan.AllNone(table.Entries));
        PageTableTree.SetPtes(table, Base + 0x1f_c000, Rw(0x800), 4);      // the last four slots
        table.Unlock();
        Assert.False(table.IsLocked);
        Assert.Equal(0x803UL, tree.ReadPte(Base + 0x1f_f000).Pfn);
        tree.Validate();
    }

    [Fact]
    public void Zapping_returns_what_was_mapped_and_keeps_the_tables()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.MapPtes(Base, Rw(0x100), 8);
        tree.MapPtes(Base + Pmd + 0x5000, Rw(0x200), 2);
        var zapped = new List<ZappedEntry>();
        long cleared = tree.ZapRange(Base + 0x2000, Base + Pmd + 0x6000, zapped);
        Assert.Equal(7, cleared);                                           // pages 2..7, then the first of the second run
        Assert.Equal(
            Enumerable.Range(2, 6).Select(i => (Base + ((ulong)i << 12), 0x100UL + (ulong)i)).Append((Base + Pmd + 0x5000, 0x200UL)),
            zapped.Select(z => (z.Address, z.Entry.Pfn)));
        Assert.All(zapped, z => Assert.False(z.IsPmdLeaf));
        Assert.Equal(0x101UL, tree.ReadPte(Base + 0x1000).Pfn);
        Assert.Equal(0x201UL, tree.ReadPte(Base + Pmd + 0x6000).Pfn);
        Assert.Equal(5, tree.TablePages);
        tree.Validate();
    }

    [Fact]
    public void Freeing_the_tables_of_a_torn_down_range_returns_every_page()
    {
        using var arena = BuddyOnly();
        long free = arena.FreePages;
        using var tree = new PageTableTree(arena);
        tree.MapPtes(Base, Rw(0x100), 8);
        tree.MapPtes(Base + (3UL << 30), Rw(0x200), 8);
        Assert.Equal(6, tree.TablePages);                                   // the second GiB shares the PUD table
        tree.ZapRange(Base, Base + (4UL << 30), null);
        Assert.Equal(5, tree.FreePageTables(Base, Base + (4UL << 30), floor: 0, ceiling: 0));
        Assert.Equal(1, tree.TablePages);
        Assert.Equal(free - 1, arena.FreePages);
        tree.Validate();
    }

    [Fact]
    public void Tables_a_neighbour_may_still_use_are_kept_as_free_pgd_range_keeps_them()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.MapPtes(Base, Rw(0x100), 1);                                   // the unmapped VMA: [Base, Base + 64K)
        tree.MapPtes(Base + 0x20_000, Rw(0x200), 1);                        // a neighbour VMA in the same 2 MiB
        tree.ZapRange(Base, Base + 0x10_000, null);

        // ceiling = the neighbour's start, inside the same PMD: nothing may go.
        Assert.Equal(0, tree.FreePageTables(Base, Base + 0x10_000, floor: 0, ceiling: Base + 0x20_000));
        Assert.Equal(4, tree.TablePages);

        // A neighbour in the next GiB: the PTE and PMD tables go, the PUD table (shared) stays.
        tree.ZapRange(Base + 0x20_000, Base + 0x21_000, null);
        tree.MapPtes(Base + (1UL << 30), Rw(0x300), 1);
        Assert.Equal(6, tree.TablePages);
        Assert.Equal(2, tree.FreePageTables(Base, Base + 0x21_000, floor: 0, ceiling: Base + (1UL << 30)));
        Assert.Equal(4, tree.TablePages);
        Assert.Equal(0x300UL, tree.ReadPte(Base + (1UL << 30)).Pfn);
        tree.Validate();
    }

    [Fact]
    public void A_pmd_leaf_maps_2_mib_with_one_entry_and_a_deposited_table()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        Assert.Equal(PmdInstallResult.Installed, tree.InstallPmdLeaf(Base, Leaf(0x1000), deposit: true));
        Assert.Equal(4, tree.TablePages);                                   // PGD, PUD, PMD and the deposit
        Assert.Equal(1, tree.DepositedTables(Base));
        Assert.Equal(WalkResult.PmdLeaf, tree.Walk(Base + 0x3000, allocate: true, out _));
        Assert.Equal(0x1000UL, tree.ReadPmd(Base + 0x12_3000).Pfn);
        Assert.Equal(PmdInstallResult.NotNone, tree.InstallPmdLeaf(Base, Leaf(0x1200), deposit: true));
        Assert.Equal(4, tree.TablePages);
        tree.Validate();

        Pte old = tree.ClearPmdLeaf(Base);
        Assert.Equal(0x1000UL, old.Pfn);
        Assert.True(tree.ReadPmd(Base).IsNone);
        Assert.Equal(3, tree.TablePages);                                   // the deposit went with it
        Assert.True(tree.ClearPmdLeaf(Base).IsNone);
        tree.Validate();
    }

    [Fact]
    public void Splitting_a_pmd_leaf_maps_the_same_512_pages_with_the_same_bits()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        Pte leaf = Leaf(0x1000).Without(PteFlags.Dirty);
        tree.InstallPmdLeaf(Base + Pmd, leaf, deposit: true);
        Assert.Equal(PmdSplitResult.Split, tree.SplitPmdLeaf(Base + Pmd + 0x7000));
        Assert.Equal(4, tree.TablePages);                                   // the deposited table became the PTE table
        Assert.Equal(0, tree.DepositedTables(Base + Pmd));
        Assert.True(tree.ReadPmd(Base + Pmd).IsTable);
        for (int i = 0; i < 512; i++)
        {
            Pte pte = tree.ReadPte(Base + Pmd + ((ulong)i << 12));
            Assert.Equal(0x1000UL + (ulong)i, pte.Pfn);
            Assert.Equal(leaf.Flags & ~PteFlags.Huge, pte.Flags);
        }

        Assert.Equal(PmdSplitResult.NotLeaf, tree.SplitPmdLeaf(Base + Pmd));
        tree.Validate();
    }

    [Fact]
    public void Splitting_without_a_deposit_allocates_the_table()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.InstallPmdLeaf(Base, Leaf(0x1000), deposit: false);
        Assert.Equal(3, tree.TablePages);
        Assert.Equal(PmdSplitResult.Split, tree.SplitPmdLeaf(Base));
        Assert.Equal(4, tree.TablePages);
        tree.Validate();
    }

    [Fact]
    public void The_huge_zero_page_splits_into_512_small_zero_pages()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        Pte hugeZero = Pte.Make(0x1400, PteFlags.Present | PteFlags.User | PteFlags.Huge | PteFlags.Special);
        Pte zero = Pte.Make(0x77, PteFlags.Present | PteFlags.User | PteFlags.Special);
        tree.InstallPmdLeaf(Base, hugeZero, deposit: true);
        Assert.Equal(PmdSplitResult.Split, tree.SplitPmdLeaf(Base, zero));
        for (int i = 0; i < 512; i++)
            Assert.Equal(zero, tree.ReadPte(Base + ((ulong)i << 12)));
        tree.Validate();
    }

    [Fact]
    public void Zapping_part_of_a_leaf_splits_it_and_zapping_all_of_it_clears_it()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.InstallPmdLeaf(Base, Leaf(0x1000), deposit: true);
        tree.InstallPmdLeaf(Base + Pmd, Leaf(0x1200), deposit: true);
        var zapped = new List<ZappedEntry>();
        Assert.Equal(1 + 496, tree.ZapRange(Base + 0x10_000, Base + 2 * Pmd, zapped));
        Assert.Equal(496, zapped.Count(z => !z.IsPmdLeaf));
        Assert.Equal((Base + Pmd, 0x1200UL), zapped.Where(z => z.IsPmdLeaf).Select(z => (z.Address, z.Entry.Pfn)).Single());
        Assert.Equal(0x100fUL, tree.ReadPte(Base + 0xf000).Pfn);
        Assert.True(tree.ReadPte(Base + 0x10_000).IsNone);
        Assert.True(tree.ReadPmd(Base + Pmd).IsNone);
        Assert.Equal(4, tree.TablePages);                                   // PGD, PUD, PMD, the split leaf's PTE table
        tree.Validate();
    }

    [Fact]
    public void Meminfo_reports_page_table_kilobytes()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.MapPtes(Base, Rw(1), 1);
        Assert.Equal(4 * 4096, tree.TableBytes);
        Assert.Equal("PageTables:           16 kB", tree.MeminfoLine);
    }

    [Fact]
    public void A_metadata_only_arena_keeps_table_entries_in_side_pages()
    {
        using var arena = new Arena(64L << 30, PageGeometry.DefaultMaxOrder, new ArenaOptions { MetadataOnly = true, PerCpuOrders = 0 });
        long free = arena.FreePages;
        var tree = new PageTableTree(arena);
        tree.MapPtes(Base, Rw(0xF_FFFF), 512);
        tree.InstallPmdLeaf(Base + Pmd, Leaf(0xF_FE00), deposit: true);
        Assert.Equal(0xF_FFFFUL + 511, tree.ReadPte(Base + 0x1f_f000).Pfn);
        Assert.Equal(PmdSplitResult.Split, tree.SplitPmdLeaf(Base + Pmd));
        tree.Validate();
        tree.Dispose();
        Assert.Equal(free, arena.FreePages);
    }

    [Fact]
    public void Dispose_returns_every_table_whatever_it_maps()
    {
        using var arena = BuddyOnly();
        long free = arena.FreePages;
        var tree = new PageTableTree(arena);
        tree.MapPtes(Base, Rw(0x100), 3);
        tree.InstallPmdLeaf(Base + (5UL << 30), Leaf(0x2000), deposit: true);
        tree.Dispose();
        Assert.Equal(free, arena.FreePages);
        Assert.Throws<System.ObjectDisposedException>(() => tree.ReadPte(Base));
        arena.Validate();
    }

    [Fact]
    public void Out_of_memory_is_a_result_and_changes_nothing()
    {
        using var arena = new Arena(4 * MiB, PageGeometry.DefaultMaxOrder, new ArenaOptions { PerCpuOrders = 0 });
        using var tree = new PageTableTree(arena);
        var hog = new List<Folio>();
        while (arena.TryAllocate(0, out Folio folio))
            hog.Add(folio);
        var before = TreeSnapshot.Take(tree);
        Assert.Equal(WalkResult.OutOfMemory, tree.Walk(Base, allocate: true, out _));
        Assert.Equal(WalkResult.OutOfMemory, tree.MapPtes(Base, Rw(1), 1));
        Assert.Equal(PmdInstallResult.OutOfMemory, tree.InstallPmdLeaf(Base, Leaf(0), deposit: true));
        before.AssertUnchanged(tree);

        arena.Free(hog[^1]);
        arena.Free(hog[^2]);
        Assert.Equal(PmdInstallResult.Installed, tree.InstallPmdLeaf(Base, Leaf(0), deposit: false));
        Assert.Equal(PmdSplitResult.OutOfMemory, tree.SplitPmdLeaf(Base));
        Assert.True(tree.ReadPmd(Base).IsLeafPmd);
        tree.Validate();
        foreach (Folio folio in hog.Take(hog.Count - 2))
            arena.Free(folio);
    }
}
