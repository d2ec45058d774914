using System;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>Every byte of an arena's descriptors and per-CPU sets, and its counters: to prove an operation changed nothing.</summary>
internal sealed unsafe class ArenaSnapshot
{
    private readonly byte[] _descriptors;
    private readonly byte[] _perCpu;
    private readonly long[] _freeBlocks;
    private readonly long _freePages;

    private ArenaSnapshot(Arena arena)
    {
        _descriptors = new ReadOnlySpan<byte>(arena.Pages, checked((int)(arena.TotalPages * PageDescriptor.Size))).ToArray();
        _perCpu = new ReadOnlySpan<byte>(arena.PerCpu, arena.PerCpuSetCount * sizeof(PerCpuPages)).ToArray();
        _freeBlocks = arena.GetBuddyInfo().FreeBlocksPerOrder.ToArray();
        _freePages = arena.FreePages;
    }

    public static ArenaSnapshot Take(Arena arena) => new(arena);

    /// <summary>Asserts the arena is byte-for-byte as it was, and still valid.</summary>
    public void AssertUnchanged(Arena arena)
    {
        var now = new ArenaSnapshot(arena);
        int diff = FirstDifference(_descriptors, now._descriptors);
        Assert.True(diff < 0, $"descriptor of PFN 0x{diff / PageDescriptor.Size:x} changed at offset {diff % PageDescriptor.Size}");
        Assert.Equal(_perCpu, now._perCpu);
        Assert.Equal(_freeBlocks, now._freeBlocks);
        Assert.Equal(_freePages, now._freePages);
        arena.Validate();
    }

    private static int FirstDifference(byte[] a, byte[] b)
    {
        int common = a.AsSpan().CommonPrefixLength(b);
        return common == a.Length && a.Length == b.Length ? -1 : common;
    }
}
