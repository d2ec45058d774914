using LargeFolios.BuddyAllocator;
using Xunit;
using static LargeFolios.PageTables.Tests.TestArenas;

namespace LargeFolios.PageTables.Tests;

/// <summary>The validator can fail: each corruption below is caught and named.</summary>
public unsafe class PageTableValidatorTests
{
    private static PageTableCorruptionException Corrupt(PageTableTree tree) => Assert.Throws<PageTableCorruptionException>(tree.Validate);

    /// <summary>The PMD table covering <paramref name="address"/>, found as the fault path finds it.</summary>
    internal static uint PmdTableOf(PageTableTree tree, ulong address)
    {
        Assert.Equal(WalkResult.Table, tree.FindPmd(address, allocate: false, out PmdSlot pmd));
        return pmd.TablePfn;
    }

    /// <summary>A table page's descriptor, writable: how these tests forge a corruption (the arena hands out read-only ones).</summary>
    private static unsafe ref PageDescriptor Forge(PageTableTree tree, uint pfn) => ref tree.Pages[pfn];

    [Fact]
    public void A_table_page_that_lost_its_type()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.Walk(Base, allocate: true, out PteTable table);
        Forge(tree, table.Pfn).PageTypeWord = unchecked((uint)-1);
        var error = Corrupt(tree);
        Assert.Equal(table.Pfn, error.TablePfn);
        Assert.Contains("PGTY_table", error.Message);
        Forge(tree, table.Pfn).PageTypeWord = (uint)PageType.Table << 24;
    }

    [Fact]
    public void A_pte_outside_the_arena()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.Walk(Base, allocate: true, out PteTable table);
        table.At(Base + 0x5000) = Rw((ulong)arena.TotalPages);
        var error = Corrupt(tree);
        Assert.Equal(Base + 0x5000, error.Address);
        Assert.Contains("outside the arena", error.Message);
        table.At(Base + 0x5000) = Pte.None;
    }

    [Fact]
    public void A_table_shared_by_two_entries()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.Walk(Base, allocate: true, out PteTable table);
        tree.Walk(Base + Pmd, allocate: true, out PteTable other);
        Pte* pmds = tree.EntriesOf(PmdTableOf(tree, Base));
        Pte saved = pmds[1];
        pmds[1] = pmds[0];
        Assert.Contains("reached twice", Corrupt(tree).Message);
        pmds[1] = saved;
        tree.Validate();
        _ = other;
    }

    [Fact]
    public void A_non_present_pte()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.Walk(Base, allocate: true, out PteTable table);
        table.At(Base) = new Pte(0x1000);
        Assert.Contains("not present", Corrupt(tree).Message);
        table.At(Base) = Pte.None;
    }

    [Fact]
    public void A_misaligned_leaf_and_a_leaked_count()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.Walk(Base, allocate: true, out _);
        Pte* pmds = tree.EntriesOf(PmdTableOf(tree, Base));
        pmds[5] = Leaf(0x10);
        Assert.Contains("512-page aligned", Corrupt(tree).Message);
        pmds[5] = Pte.None;

        // A table unhooked without being freed: leaked.
        Pte saved = pmds[0];
        pmds[0] = Pte.None;
        Assert.Contains("leaked", Corrupt(tree).Message);
        pmds[0] = saved;
        tree.Validate();
    }

    [Fact]
    public void A_locked_table()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.Walk(Base, allocate: true, out PteTable table);
        table.Lock();
        Assert.Contains("locked", Corrupt(tree).Message);
        table.Unlock();
        tree.Validate();
    }
}

/// <summary>The assert levels: DEBUG_VM builds check each table as it is freed.</summary>
public unsafe class PageTableDebugVmTests
{
    [Fact]
    public void Freeing_a_table_that_still_maps_is_caught_only_with_DEBUG_VM()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.InstallPmdLeaf(Base, Leaf(0x400), deposit: true);
        uint deposited = arena.Page(PageTableValidatorTests.PmdTableOf(tree, Base)).ListNext;
        tree.EntriesOf(deposited)[3] = Rw(9);       // a deposited table must stay empty
        if (DebugVm.Enabled)
        {
            var error = Assert.Throws<PageTableCorruptionException>(() => tree.ClearPmdLeaf(Base));
            Assert.Equal(deposited, error.TablePfn);
            tree.EntriesOf(deposited)[3] = Pte.None;
        }
        else
        {
            Assert.Equal(0x400UL, tree.ClearPmdLeaf(Base).Pfn);
            tree.Validate();
        }
    }

    /// <summary>CI runs the suite again with -p:DebugVm=true and EXPECT_DEBUG_VM=1: prove the flag reached the library.</summary>
    [Fact]
    public void The_build_flavour_is_the_one_the_runner_asked_for()
    {
        string? expected = System.Environment.GetEnvironmentVariable("EXPECT_DEBUG_VM");
        Assert.Equal(expected == "1", DebugVm.Enabled);
    }
}
