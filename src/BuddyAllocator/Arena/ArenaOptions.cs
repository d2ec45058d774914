namespace LargeFolios.BuddyAllocator;

/// <summary>How an <see cref="Arena"/> is built. Zero means "as Linux would choose".</summary>
public sealed record ArenaOptions
{
    /// <summary>Linux 6.18's cached orders (<c>pcp_allowed_order</c>): 0..3 and the PMD order.</summary>
    public const uint LinuxPerCpuOrders = 0b1111 | (1u << PageGeometry.PmdOrder);

    /// <summary>Every order up to the PMD order: the mTHP sizes are as hot as the small ones in a fault-path workload.</summary>
    public const uint AllPerCpuOrders = (1u << (PageGeometry.PmdOrder + 1)) - 1;

    /// <summary>The default options.</summary>
    public static ArenaOptions Default { get; } = new();

    /// <summary>
    /// Descriptors only, no backing memory: a 64 GiB machine costs 1 GiB of descriptors. Folio
    /// addresses and spans are unavailable.
    /// </summary>
    public bool MetadataOnly { get; init; }

    /// <summary>Number of per-CPU page sets; 0: one per processor, rounded up to a power of two.</summary>
    public int PerCpuSets { get; init; }

    /// <summary>
    /// Pages a per-CPU set may hold before it drains (pcp->high); 0: Linux's <c>zone_highsize</c>
    /// (the low watermark split across the sets, at least 4 batches).
    /// </summary>
    public int PerCpuHigh { get; init; }

    /// <summary>Pages per refill or drain (pcp->batch); 0: Linux's <c>zone_batchsize</c>.</summary>
    public int PerCpuBatch { get; init; }

    /// <summary>
    /// Bit k set: order k is cached per CPU (orders above <see cref="PageGeometry.PmdOrder"/> never
    /// are). Default <see cref="AllPerCpuOrders"/>; <see cref="LinuxPerCpuOrders"/> for Linux's
    /// exact set; 0 disables the caches.
    /// </summary>
    public uint PerCpuOrders { get; init; } = AllPerCpuOrders;

    /// <summary>
    /// The bound the arena charges for what it takes from the host (<see cref="BuddyAllocator.HostMemory"/>);
    /// null for the process's (<see cref="BuddyAllocator.HostMemory.Process"/>).
    /// </summary>
    public HostMemory? HostMemory { get; init; }

    /// <summary>How the host should back the arena's memory (Linux only).</summary>
    public HostHugePages HostHugePages { get; init; }
}
