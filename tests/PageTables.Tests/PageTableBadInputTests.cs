using System;
using System.Collections.Generic;
using Xunit;
using static LargeFolios.PageTables.Tests.TestArenas;

namespace LargeFolios.PageTables.Tests;

/// <summary>Each bad argument: a specific exception naming the address, and the tree exactly as it was.</summary>
public class PageTableBadInputTests
{
    public static IEnumerable<object[]> BadCalls()
    {
        // name, the call, the address its message must name
        yield return Case("walk beyond user space", t => t.Walk(VirtualAddress.TaskSize, allocate: true, out _), VirtualAddress.TaskSize);
        yield return Case("map PTEs unaligned", t => t.MapPtes(Base + 0x10, Rw(1), 1), Base + 0x10);
        yield return Case("map PTEs across a table", t => t.MapPtes(Base + 0x1f_f000, Rw(1), 2), Base + 0x1f_f000);
        yield return Case("map zero PTEs", t => t.MapPtes(Base, Rw(1), 0), Base);
        yield return Case("map across a table where none exists yet", t => t.MapPtes(Base + (7UL << 30) + 0x1f_f000, Rw(1), 2), Base + (7UL << 30) + 0x1f_f000);
        yield return Case("map over a mapped PTE", t => t.MapPtes(Base + 0x3000, Rw(9), 4), Base + 0x4000);
        yield return Case("leaf unaligned", t => t.InstallPmdLeaf(Base + 0x1000, Leaf(0), deposit: true), Base + 0x1000);
        yield return Case("leaf beyond user space", t => t.InstallPmdLeaf(1UL << 47, Leaf(0), deposit: true), 1UL << 47);
        yield return Case("walk an empty range", t => Walk(t, Base, Base), Base);
        yield return Case("walk a reversed range", t => Walk(t, Base + 0x2000, Base), Base + 0x2000);
        yield return Case("walk unaligned", t => Walk(t, Base + 1, Base + 0x2000), Base + 1);
        yield return Case("walk beyond user space", t => Walk(t, Base, VirtualAddress.TaskSize + 0x1000), Base);
        yield return Case("free tables that still map", t => t.FreePageTables(Base, Base + 0x10_000, 0, 0), Base + 0x4000);
        yield return Case("free tables under a leaf", t => t.FreePageTables(Base + 2 * Pmd, Base + 3 * Pmd, 0, 0), Base + 2 * Pmd);
        yield return Case("split beyond user space", t => t.SplitPmdLeaf(ulong.MaxValue & ~0xfffUL), ulong.MaxValue & ~0xfffUL);
    }

    private static object[] Case(string name, Action<PageTableTree> call, ulong address) => [name, call, address];

    private static void Walk(PageTableTree tree, ulong start, ulong end)
    {
        var count = new CountingVisitor();
        tree.WalkRange(start, end, ref count);
    }

    [Theory]
    [MemberData(nameof(BadCalls))]
    public void Bad_input_names_the_address_and_changes_nothing(string name, Action<PageTableTree> call, ulong address)
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.MapPtes(Base + 0x4000, Rw(0x100), 1);
        tree.InstallPmdLeaf(Base + 2 * Pmd, Leaf(0x200), deposit: true);
        var before = TreeSnapshot.Take(tree);

        var error = Assert.Throws<BadAddressException>(() => call(tree));
        Assert.True(error.Message.Contains($"0x{address:x}", StringComparison.Ordinal), $"{name}: {error.Message}");
        Assert.Equal(address, error.Address);
        before.AssertUnchanged(tree);
    }

    [Fact]
    public void A_leaf_entry_that_is_not_a_leaf_is_refused()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        var before = TreeSnapshot.Take(tree);
        Assert.Throws<ArgumentException>(() => tree.InstallPmdLeaf(Base, Rw(0), deposit: true));
        Assert.Throws<ArgumentException>(() => tree.InstallPmdLeaf(Base, Leaf(0x101), deposit: true));
        before.AssertUnchanged(tree);
    }

    [Fact]
    public void Set_ptes_outside_the_table_is_refused()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.Walk(Base, allocate: true, out PteTable table);
        var before = TreeSnapshot.Take(tree);
        table.Lock();
        Assert.Throws<BadAddressException>(() => PageTableTree.SetPtes(table, Base + 0x1ff_000 - 0x1f_0000, Rw(0), 513));
        table.Unlock();
        Assert.Throws<ArgumentException>(() => PageTableTree.SetPtes(default, Base, Rw(0), 1));
        before.AssertUnchanged(tree);
    }
}
