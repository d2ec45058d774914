using LargeFolios.BuddyAllocator;
using LargeFolios.TestSupport;
using Xunit;

namespace LargeFolios.PageTables.Tests;

/// <summary>The README's page-table example, as written there, does what the README says.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void The_page_table_example_maps_a_64k_folio_and_reports_16_kb_of_tables()
    {
        using var arena = new Arena(1L << 30);
        using var tables = new PageTableTree(arena);
        using var vmas = new VmaSet();

        vmas.Map(0x7f00_0000_0000, 4 << 20, VmaFlags.Read | VmaFlags.Write);
        vmas.Madvise(0x7f00_0020_0000, 2 << 20, hugePage: true);

        Folio folio = arena.Allocate(4, FolioKind.Anonymous);
        tables.Walk(0x7f00_0001_0000, allocate: true, out PteTable pte);
        pte.Lock();
        if (PteScan.AllNone(pte.Slice(0x7f00_0001_0000, 16)))
            PageTableTree.SetPtes(pte, 0x7f00_0001_0000, Pte.Make(folio.Pfn, PteFlags.Present | PteFlags.Write | PteFlags.User), 16);
        pte.Unlock();

        Assert.Equal("PageTables:           16 kB", tables.MeminfoLine);
        Assert.Equal(folio.Pfn + 15UL, tables.ReadPte(0x7f00_0001_f000).Pfn);
        using (vmas.Lock.Read())
        {
            Assert.Equal(2, vmas.Count);
            Assert.True(vmas.TryFind(0x7f00_0020_0000, out Vma huge));
            Assert.True((huge.Flags & VmaFlags.HugePage) != 0);
        }

        tables.ZapRange(0x7f00_0000_0000, 0x7f00_0040_0000, null);
        tables.Validate();
    }
}
