namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>Arena configurations the tests share.</summary>
internal static class Arenas
{
    public const long MiB = 1L << 20;

    /// <summary>No per-CPU caching: every allocation and free goes to the buddy core, deterministically.</summary>
    public static Arena BuddyOnly(long bytes = 16 * MiB, int maxOrder = PageGeometry.DefaultMaxOrder) =>
        new(bytes, maxOrder, new ArenaOptions { PerCpuOrders = 0 });

    /// <summary>One per-CPU set, so every thread uses the same cache: deterministic cache behaviour.</summary>
    public static Arena SingleCpu(long bytes = 16 * MiB, int high = 0, int batch = 0, uint orders = ArenaOptions.AllPerCpuOrders) =>
        new(bytes, PageGeometry.DefaultMaxOrder, new ArenaOptions { PerCpuSets = 1, PerCpuHigh = high, PerCpuBatch = batch, PerCpuOrders = orders });
}
