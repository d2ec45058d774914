using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.PageTables.Tests.TestArenas;

namespace LargeFolios.PageTables.Tests;

/// <summary>Several threads set and clear PTEs at once, in different and in the same PMD ranges.</summary>
public class PageTableConcurrencyTests
{
    private const int Threads = 6;

    [Fact]
    public void Threads_mapping_and_zapping_their_own_pages_in_shared_and_separate_tables()
    {
        using var arena = BuddyOnly(64 * MiB);
        using var tree = new PageTableTree(arena);
        using var start = new Barrier(Threads);

        // Threads 0-2 share one PTE table (interleaved pages); threads 3-5 each own a 2 MiB region
        // in a GiB no one has touched, so their first walks race to install the same PUD/PMD tables.
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            start.SignalAndWait();
            for (int round = 0; round < 300; round++)
            {
                for (int k = 0; k < 8; k++)
                {
                    ulong address = Address(t, k);
                    Assert.Equal(WalkResult.Table, tree.MapPtes(address, Rw(Pfn(t, k, round)), 1));
                }

                for (int k = 0; k < 8; k++)
                    Assert.Equal(Pfn(t, k, round), tree.ReadPte(Address(t, k)).Pfn);

                for (int k = 0; k < 8; k++)
                    Assert.Equal(1, tree.ZapRange(Address(t, k), Address(t, k) + 0x1000, null));
            }
        });

        tree.Validate();
        Assert.Equal(1 + 1 + 2 + 4, tree.TablePages);   // PGD, one PUD table, a PMD table per GiB, four PTE tables: no racing loser leaked one
        Assert.True(Enumerable.Range(0, Threads).All(t => tree.ReadPte(Address(t, 0)).IsNone));
    }

    // Threads 0..2: page 3k + t of the region at Base; threads 3..5: page k of their own region at
    // Base + 1 GiB + (t - 3) * 2 MiB.
    private static ulong Address(int thread, int k) => thread < 3
        ? Base + ((ulong)(3 * k + thread) << 12)
        : Base + (1UL << 30) + ((ulong)(thread - 3) * Pmd) + ((ulong)k << 12);

    private static ulong Pfn(int thread, int k, int round) => (ulong)((thread * 1000) + (k * 10) + (round % 7));

    [Fact]
    public void Racing_leaf_installs_map_the_region_once()
    {
        for (int trial = 0; trial < 50; trial++)
        {
            using var arena = BuddyOnly();
            using var tree = new PageTableTree(arena);
            using var start = new Barrier(Threads);
            int installed = 0;
            Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
            {
                start.SignalAndWait();
                PmdInstallResult result = tree.InstallPmdLeaf(Base, Leaf((ulong)(t + 1) * 512), deposit: true);
                if (result == PmdInstallResult.Installed)
                    Interlocked.Increment(ref installed);
                else
                    Assert.Equal(PmdInstallResult.NotNone, result);
            });

            Assert.Equal(1, installed);
            Assert.Equal(4, tree.TablePages);           // PGD, PUD, PMD and one deposit: the losers freed theirs
            tree.Validate();
        }
    }

    [Fact]
    public void Racing_splits_and_zaps_of_one_leaf_leave_a_consistent_table()
    {
        for (int trial = 0; trial < 50; trial++)
        {
            using var arena = BuddyOnly();
            using var tree = new PageTableTree(arena);
            tree.InstallPmdLeaf(Base, Leaf(0x400), deposit: trial % 2 == 0);
            using var start = new Barrier(Threads);
            long zapped = 0;
            Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
            {
                start.SignalAndWait();
                if (t % 2 == 0)
                    tree.SplitPmdLeaf(Base);
                else
                    Interlocked.Add(ref zapped, tree.ZapRange(Base + ((ulong)t << 12), Base + ((ulong)(t + 1) << 12), null));
            });

            Assert.Equal(Threads / 2, zapped);
            Assert.True(tree.ReadPmd(Base).IsTable);
            for (int i = 0; i < 512; i++)
            {
                bool gone = i < Threads && i % 2 == 1;
                Assert.Equal(gone, tree.ReadPte(Base + ((ulong)i << 12)).IsNone);
            }

            tree.Validate();
        }
    }
}
