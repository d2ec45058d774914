using LargeFolios.BuddyAllocator;
using Xunit;

namespace LargeFolios.PageTables.Tests;

public class PteTests
{
    [Fact]
    public void None_is_all_zeros_and_a_made_entry_keeps_its_pfn_and_flags()
    {
        Assert.Equal(0UL, Pte.None.Value);
        Assert.True(Pte.None.IsNone);
        Pte pte = Pte.Make(0x12345, PteFlags.Present | PteFlags.Write | PteFlags.Dirty);
        Assert.Equal((0x12345UL << PageGeometry.PageShift) | 0x43, pte.Value);
        Assert.Equal(0x12345UL, pte.Pfn);
        Assert.True(pte.IsPresent && pte.IsWritable && pte.IsDirty && !pte.IsAccessed && !pte.IsSpecial);
        Assert.Equal(0x12346UL, pte.NextPage.Pfn);
        Assert.Equal(pte.Flags, pte.NextPage.Flags);
    }

    [Fact]
    public void Flags_sit_at_x86_positions()
    {
        Assert.Equal(0x1UL, (ulong)PteFlags.Present);
        Assert.Equal(0x2UL, (ulong)PteFlags.Write);
        Assert.Equal(0x4UL, (ulong)PteFlags.User);
        Assert.Equal(0x20UL, (ulong)PteFlags.Accessed);
        Assert.Equal(0x40UL, (ulong)PteFlags.Dirty);
        Assert.Equal(0x80UL, (ulong)PteFlags.Huge);
        Assert.Equal(0x200UL, (ulong)PteFlags.Special);
        Assert.Equal(0UL, Pte.PfnMask & (ulong)(PteFlags.Present | PteFlags.Write | PteFlags.User | PteFlags.Accessed | PteFlags.Dirty | PteFlags.Huge | PteFlags.Special));
    }

    [Fact]
    public void A_pmd_entry_is_a_leaf_or_a_table()
    {
        Pte leaf = Pte.Make(512, PteFlags.Present | PteFlags.Huge | PteFlags.Write);
        Pte table = Pte.Make(7, PteFlags.Present | PteFlags.Write);
        Assert.True(leaf.IsLeafPmd);
        Assert.False(leaf.IsTable);
        Assert.True(table.IsTable);
        Assert.False(table.IsLeafPmd);
        Assert.False(Pte.None.IsTable || Pte.None.IsLeafPmd);
    }
}
