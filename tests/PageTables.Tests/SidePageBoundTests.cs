using System;
using System.Linq;
using System.Threading.Tasks;
using LargeFolios.BuddyAllocator;
using Xunit;
using static LargeFolios.PageTables.Tests.TestArenas;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// Page tables of a metadata-only arena live in side pages charged to the arena's host-memory
/// bound: a table the bound refuses is the walk's out-of-memory result, as an empty arena's, with
/// the tree and the arena valid and the refused table's page back in the arena; and the most
/// tables a range can take (<see cref="PageTableTree.MaxTablesFor"/>) is what mapping it takes.
/// </summary>
public class SidePageBoundTests
{
    private const int TablesPerChunk = 512;

    private static (Arena Arena, HostMemory Bound) MetadataOnly(long arenaBytes, long sideBytes)
    {
        var options = new ArenaOptions { MetadataOnly = true, PerCpuOrders = 0 };
        var bound = new HostMemory(Arena.HostBytesFor(arenaBytes, options) + sideBytes);
        return (new Arena(arenaBytes, options: options with { HostMemory = bound }), bound);
    }

    [Fact]
    public void A_table_the_bound_refuses_is_out_of_memory_and_leaves_tree_and_arena_valid()
    {
        (Arena arena, HostMemory bound) = MetadataOnly(64 * MiB, 2 * MiB);
        using (arena)
        using (var tree = new PageTableTree(arena))
        {
            // PGD, PUD and a PMD table, then a PTE table per 2 MiB until the one chunk is used up.
            ulong address = Base;
            for (int table = 3; table < TablesPerChunk; table++, address += Pmd)
                Assert.Equal(WalkResult.Table, tree.Walk(address, allocate: true, out _));
            Assert.Equal(TablesPerChunk, tree.TablePages);
            long free = arena.FreePages;

            Assert.Equal(WalkResult.OutOfMemory, tree.Walk(address, allocate: true, out PteTable none));

            Assert.False(none.IsValid);
            Assert.Equal(TablesPerChunk, tree.TablePages);
            Assert.Equal(free, arena.FreePages);
            Assert.Equal(1, bound.Refusals);
            Assert.Equal(WalkResult.NoTable, tree.Walk(address, allocate: false, out _));
            Assert.Equal(PmdInstallResult.OutOfMemory, tree.InstallPmdLeaf(address, Leaf(0x200), deposit: true));
            tree.Validate();
            arena.Validate();

            // A table freed gives its side page back; the next table takes it without a new chunk.
            Assert.Equal(1, tree.FreePageTables(Base, Base + Pmd, 0, 0));
            Assert.Equal(WalkResult.Table, tree.Walk(address, allocate: true, out _));
            Assert.Equal(2 * MiB, bound.InUseBytes - Arena.HostBytesFor(64 * MiB, new ArenaOptions { MetadataOnly = true, PerCpuOrders = 0 }));
            tree.Validate();
        }

        Assert.Equal(0, bound.InUseBytes);
    }

    [Fact]
    public void A_tree_whose_pgd_the_bound_refuses_throws_naming_the_bound_and_takes_nothing()
    {
        (Arena arena, HostMemory bound) = MetadataOnly(16 * MiB, 0);
        using (arena)
        {
            long free = arena.FreePages;

            HostMemoryException refused = Assert.Throws<HostMemoryException>(() => new PageTableTree(arena));

            Assert.Contains("PGD", refused.Message, StringComparison.Ordinal);
            Assert.Equal(2 * MiB, refused.RequestedBytes);
            Assert.Equal(free, arena.FreePages);
            arena.Validate();
        }
    }

    [Fact]
    public void Faults_on_several_threads_that_reach_the_bound_each_get_out_of_memory_and_the_tree_stays_valid()
    {
        (Arena arena, HostMemory bound) = MetadataOnly(64 * MiB, 4 * MiB);
        using (arena)
        using (var tree = new PageTableTree(arena))
        {
            const int Threads = 4;
            var tables = new int[Threads];
            var refused = new int[Threads];
            Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, thread =>
            {
                // Each thread its own 1 GiB, so each needs a PMD table of its own too.
                ulong start = Base + ((ulong)thread << 30);
                for (ulong a = start; a < start + (1UL << 30); a += Pmd)
                {
                    if (tree.Walk(a, allocate: true, out _) == WalkResult.Table)
                        tables[thread]++;
                    else
                        refused[thread]++;
                }
            });

            int mapped = tables[0] + tables[1] + tables[2] + tables[3];
            Assert.Equal(2 * TablesPerChunk, tree.TablePages);
            int pmdTables = tables.Count(t => t > 0);   // a thread refused from its first walk on has none
            Assert.Equal(2 * TablesPerChunk - 2 - pmdTables, mapped);
            Assert.Equal((Threads * 512) - mapped, refused[0] + refused[1] + refused[2] + refused[3]);
            Assert.True(bound.Refusals >= Threads);
            tree.Validate();
            arena.Validate();
        }
    }

    [Theory]
    [InlineData(Base, 2UL << 20, 4)]
    [InlineData(Base + 0x1000, 2UL << 20, 5)]
    [InlineData(Base + (1UL << 30) - (2UL << 20), 4UL << 20, 6)]
    [InlineData(0x4000_0000UL, 256UL << 30, 1 + 131_072 + 256 + 1)]
    [InlineData(0x4000_0000UL, 0UL, 1)]
    public void MaxTablesFor_counts_the_tables_a_range_can_take(ulong start, ulong length, long tables) =>
        Assert.Equal(tables, PageTableTree.MaxTablesFor(start, length));

    [Fact]
    public void Mapping_every_2M_of_a_range_takes_exactly_MaxTablesFor_tables()
    {
        const ulong Start = Base + (1UL << 30) - (6UL << 20) + 0x3000;
        const ulong Length = (3UL << 30) + (5UL << 20);
        using Arena arena = BuddyOnly(64 * MiB);
        using var tree = new PageTableTree(arena);
        for (ulong a = Start; a < Start + Length; a = (a + Pmd) & ~(Pmd - 1))
            Assert.Equal(WalkResult.Table, tree.Walk(a, allocate: true, out _));
        Assert.Equal(WalkResult.Table, tree.Walk(Start + Length - 1 & ~0xfffUL, allocate: true, out _));

        Assert.Equal(PageTableTree.MaxTablesFor(Start, Length), tree.TablePages);
    }
}
