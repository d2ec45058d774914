using System;
using LargeFolios.TestSupport;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

public unsafe class ArenaTests
{
    [Fact]
    public void New_arena_is_all_free_in_max_order_blocks()
    {
        using var arena = new Arena(16 * Arenas.MiB);
        Assert.Equal(4096, arena.TotalPages);
        Assert.Equal(10, arena.MaxOrder);
        Assert.Equal(new long[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4 }, TestHelpers.FreeBlocks(arena));
        arena.Validate();
    }

    [Fact]
    public void Base_address_is_aligned_to_the_largest_block()
    {
        using var arena = new Arena(16 * Arenas.MiB);
        Assert.Equal(0UL, (ulong)arena.BaseAddress % (4UL << 20));
        using var small = new Arena(8 * Arenas.MiB, maxOrder: 11);
        Assert.Equal(0UL, (ulong)small.BaseAddress % (8UL << 20));
    }

    [Fact]
    public void Pfn_and_address_convert_both_ways()
    {
        using var arena = new Arena(8 * Arenas.MiB);
        for (uint pfn = 0; pfn < arena.TotalPages; pfn += 97)
        {
            byte* address = arena.PfnToAddress(pfn);
            Assert.Equal((nuint)arena.BaseAddress + ((nuint)pfn << 12), (nuint)address);
            Assert.Equal(pfn, arena.AddressToPfn(address));
            Assert.Equal(pfn, arena.AddressToPfn(address + 4095));
        }
    }

    [Fact]
    public void Address_outside_the_arena_is_refused()
    {
        using var arena = new Arena(4 * Arenas.MiB);
        var error = Assert.Throws<BadFolioException>(() => arena.AddressToPfn(arena.BaseAddress + arena.SizeBytes));
        Assert.Equal(BadFolioReason.NotInArena, error.Reason);
        Assert.Contains($"0x{(nuint)(arena.BaseAddress + arena.SizeBytes):x}", error.Message);
        Assert.Throws<BadFolioException>(() => arena.AddressToPfn(arena.BaseAddress - 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => arena.PfnToAddress((uint)arena.TotalPages));
    }

    [Theory]
    [InlineData(0L, 10)]
    [InlineData(-4L << 20, 10)]
    [InlineData(5L << 20, 10)]
    [InlineData(4096L, 1)]
    [InlineData((4L << 20) + 4096, 10)]
    public void Size_that_is_not_a_whole_number_of_max_order_blocks_is_refused(long bytes, int maxOrder)
    {
        var error = Assert.Throws<ArgumentException>(() => new Arena(bytes, maxOrder));
        Assert.Contains(bytes.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
        Assert.Contains($"order-{maxOrder}", error.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(21)]
    public void Max_order_out_of_range_is_refused(int maxOrder)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new Arena(4L << 20, maxOrder));
        Assert.Contains(maxOrder.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }

    [Fact]
    public void Small_max_orders_work()
    {
        using var arena = new Arena(64 * 1024, maxOrder: 0);
        Assert.Equal(16, arena.GetBuddyInfo().FreeBlocks(0));
        var folios = TestHelpers.FillWith(arena, 0);
        Assert.Equal(16, folios.Count);
        foreach (Folio folio in folios)
            arena.Free(folio);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Metadata_only_arena_has_descriptors_but_no_memory()
    {
        using var arena = new Arena(256 * Arenas.MiB, options: new ArenaOptions { MetadataOnly = true });
        Assert.False(arena.HasMemory);
        Assert.True(arena.BaseAddress == null);
        Folio folio = arena.Allocate(PageGeometry.PmdOrder, FolioKind.Anonymous);
        Assert.Equal(0u, folio.Pfn % 512);
        Assert.Throws<InvalidOperationException>(() => folio.AsSpan());
        Assert.Throws<InvalidOperationException>(() => arena.PfnToAddress(0));
        arena.Free(folio);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Metadata_only_mode_simulates_64_GiB_with_1_GiB_of_descriptors()
    {
        using var arena = new Arena(64L << 30, options: new ArenaOptions { MetadataOnly = true, PerCpuSets = 1 });
        Assert.Equal(16L << 20, arena.TotalPages);
        Assert.Equal(16384, arena.GetBuddyInfo().FreeBlocks(10));
        Folio last = default;
        for (int i = 0; i < 16384; i++)
            last = arena.Allocate(10);
        Assert.Equal((uint)(arena.TotalPages - 1024), last.Pfn);
        Assert.False(arena.TryAllocate(0, out _));
    }

    [Fact]
    public void Linux_watermarks_and_per_cpu_sizes()
    {
        // 1 GiB: min_free_kbytes = sqrt(1 GiB in KiB * 16) = 4096 KiB = 1024 pages; gap = max(256, 262) = 262.
        ZoneWatermarks marks = ZoneWatermarks.For(262144);
        Assert.Equal(new ZoneWatermarks(1024, 1286, 1548), marks);
        Assert.Equal(63, ZoneWatermarks.PerCpuBatch(262144));
        Assert.Equal(643, marks.PerCpuHigh(63, 2));
        Assert.Equal(1, ZoneWatermarks.PerCpuBatch(1024));

        using var arena = new Arena(1L << 30, options: new ArenaOptions { MetadataOnly = true, PerCpuSets = 2 });
        Assert.Equal(63, arena.PerCpuBatch);
        Assert.Equal(643, arena.PerCpuHigh);
    }

    [Fact]
    public void Every_call_after_dispose_throws_ObjectDisposedException()
    {
        var arena = new Arena(4 * Arenas.MiB);
        Folio folio = arena.Allocate(0);
        byte* address = arena.PfnToAddress(0);
        arena.Dispose();
        arena.Dispose();
        Assert.True(arena.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => arena.Allocate(0));
        Assert.Throws<ObjectDisposedException>(() => arena.TryAllocate(0, out _));
        Assert.Throws<ObjectDisposedException>(() => arena.Free(folio));
        Assert.Throws<ObjectDisposedException>(() => arena.Free(address));
        Assert.Throws<ObjectDisposedException>(() => arena.Put(folio));
        Assert.Throws<ObjectDisposedException>(() => arena.Get(folio));
        Assert.Throws<ObjectDisposedException>(() => arena.SplitUniform(folio, 0));
        Assert.Throws<ObjectDisposedException>(() => arena.FolioOf(0));
        Assert.Throws<ObjectDisposedException>(() => arena.Page(0));
        Assert.Throws<ObjectDisposedException>(() => arena.PfnToAddress(0));
        Assert.Throws<ObjectDisposedException>(() => arena.GetBuddyInfo());
        Assert.Throws<ObjectDisposedException>(() => arena.FreePages);
        Assert.Throws<ObjectDisposedException>(() => arena.CachedPages);
        Assert.Throws<ObjectDisposedException>(() => arena.DrainPerCpuCaches());
        Assert.Throws<ObjectDisposedException>(() => arena.Validate());
        var error = Assert.Throws<ObjectDisposedException>(() => folio.Refcount);
        Assert.Contains("disposed", error.Message);
    }
}
