using System;
using Xunit;
using static LargeFolios.PageTables.Tests.TestArenas;

namespace LargeFolios.PageTables.Tests;

/// <summary>The safe accessors of a PTE table: the entries a package user reads and writes without a pointer.</summary>
public class PteTableAccessorTests
{
    [Fact]
    public void At_Slice_and_Entries_name_the_slots_the_tree_maps()
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.MapPtes(Base + 0x1f_c000, Rw(0x800), 4);                    // the last four slots
        Assert.Equal(WalkResult.Table, tree.Walk(Base, allocate: false, out PteTable table));

        Assert.Equal(VirtualAddress.EntriesPerTable, table.Entries.Length);
        Assert.Equal(Rw(0x801), table.At(Base + 0x1f_d000));
        Assert.Equal(Rw(0x801), table.Entries[509]);
        Span<Pte> last = table.Slice(Base + 0x1f_c000, 4);
        Assert.Equal([Rw(0x800), Rw(0x801), Rw(0x802), Rw(0x803)], last.ToArray());
        Assert.True(PteScan.AllNone(table.Slice(Base, 508)));
        Assert.Equal(Rw(0x803), table.Slice(Base + 0x1f_f000, 1)[0]);   // a one-entry slice at the end fits
        Assert.Empty(table.Slice(Base + 0x1f_f000, 0).ToArray());

        table.Lock();
        table.At(Base + 0x1f_d000) = Pte.None;                           // a write through the ref reaches the table
        table.Unlock();
        Assert.Equal(Pte.None, tree.ReadPte(Base + 0x1f_d000));
        table.Lock();
        table.At(Base + 0x1f_d000) = Rw(0x801);
        table.Unlock();
        tree.Validate();
    }

    [Theory]
    [InlineData(0x1f_f000UL, 2)]
    [InlineData(0x1f_c000UL, 5)]
    [InlineData(0UL, 513)]
    [InlineData(0UL, -1)]
    public void A_slice_past_the_table_or_of_negative_length_names_the_count_and_slot(ulong offset, int count)
    {
        using var arena = BuddyOnly();
        using var tree = new PageTableTree(arena);
        tree.MapPtes(Base + 0x1f_c000, Rw(0x800), 4);
        tree.Walk(Base, allocate: false, out PteTable table);
        var before = TreeSnapshot.Take(tree);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => table.Slice(Base + offset, count));
        Assert.Equal("count", error.ParamName);
        Assert.Contains($"{count} entries from slot {VirtualAddress.PteIndex(Base + offset)}", error.Message, StringComparison.Ordinal);
        before.AssertUnchanged(tree);
    }

    [Fact]
    public void The_default_table_has_no_entries_and_refuses_a_slot()
    {
        PteTable none = default;
        Assert.False(none.IsValid);
        Assert.Equal(0, none.Entries.Length);
        Assert.Contains("default PteTable", Assert.Throws<InvalidOperationException>(() => none.At(Base)).Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => none.Slice(Base, 1));
    }
}
