using System;
using System.Linq;
using System.Threading.Tasks;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

public class MthpStatsTests
{
    [Fact]
    public void Counter_names_and_order_are_the_kernels()
    {
        string[] kernel =
        [
            "anon_fault_alloc", "anon_fault_fallback", "anon_fault_fallback_charge", "zswpout", "swpin",
            "swpin_fallback", "swpin_fallback_charge", "swpout", "swpout_fallback", "shmem_alloc",
            "shmem_fallback", "shmem_fallback_charge", "split", "split_failed", "split_deferred", "nr_anon",
            "nr_anon_partially_mapped",
        ];
        Assert.Equal(kernel, Enum.GetValues<MthpStatItem>().Select(MthpStats.Name));
    }

    [Fact]
    public void Counts_by_order_ignore_order_0_and_format_the_non_zero_ones()
    {
        var stats = new MthpStats();
        stats.Count(4, MthpStatItem.AnonFaultAlloc);
        stats.Count(4, MthpStatItem.AnonFaultAlloc);
        stats.Count(9, MthpStatItem.AnonFaultFallback);
        stats.Add(4, MthpStatItem.NrAnon, 2);
        stats.Add(4, MthpStatItem.NrAnon, -1);
        stats.Count(0, MthpStatItem.AnonFaultAlloc);           // as mod_mthp_stat: order 0 has no counters
        Assert.Equal(2, stats.Get(4, MthpStatItem.AnonFaultAlloc));
        Assert.Equal(0, stats.Get(0, MthpStatItem.AnonFaultAlloc));
        Assert.Equal("64kB anon_fault_alloc 2\n64kB nr_anon 1\n2048kB anon_fault_fallback 1\n", stats.Format());
    }

    [Fact]
    public void Counts_from_many_threads_add_up()
    {
        var stats = new MthpStats();
        Parallel.For(0, 8, t =>
        {
            for (int i = 0; i < 10_000; i++)
                stats.Count(2 + (i % 8), MthpStatItem.AnonFaultAlloc);
        });

        for (int order = 2; order <= 9; order++)
            Assert.Equal(8 * 10_000 / 8, stats.Get(order, MthpStatItem.AnonFaultAlloc));
    }
}
