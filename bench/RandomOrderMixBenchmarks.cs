using System;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.Bench;

/// <summary>
/// A random mix of orders through a ring of 256 live blocks: each operation frees the oldest block
/// and allocates one of the next order in a fixed pseudo-random sequence (orders 0..9, small ones
/// more likely, as in an mTHP fault workload). Same sequence for every allocator.
/// </summary>
[MemoryDiagnoser(displayGenColumns: false)]
public unsafe class RandomOrderMixBenchmarks
{
    private const int Ring = 256;
    private const int Sequence = 4096;
    private static readonly int[] s_orders = MakeOrders();
    private Arena _arena = null!;
    private Folio[] _folios = null!;
    private void*[] _blocks = null!;
    private int _next;

    [GlobalSetup(Target = nameof(NativeAlignedAlloc))]
    public void SetupNative()
    {
        _blocks = new void*[Ring];
        for (int i = 0; i < Ring; i++)
            _blocks[i] = NativeMemory.AlignedAlloc(Bytes(s_orders[i]), Bytes(s_orders[i]));
        _next = Ring;
    }

    [GlobalSetup(Target = nameof(MimallocAlignedAlloc))]
    public void SetupMimalloc()
    {
        _blocks = new void*[Ring];
        for (int i = 0; i < Ring; i++)
            _blocks[i] = Mimalloc.MallocAligned(Bytes(s_orders[i]), Bytes(s_orders[i]));
        _next = Ring;
    }

    [GlobalSetup(Target = nameof(ArenaAllocate))]
    public void SetupArena()
    {
        _arena = new Arena(1L << 30);
        _folios = new Folio[Ring];
        for (int i = 0; i < Ring; i++)
            _folios[i] = _arena.Allocate(s_orders[i]);
        _next = Ring;
    }

    [Benchmark(Baseline = true, Description = "NativeMemory.AlignedAlloc")]
    public void NativeAlignedAlloc()
    {
        int step = _next++;
        int slot = step & (Ring - 1);
        nuint bytes = Bytes(s_orders[step & (Sequence - 1)]);
        NativeMemory.AlignedFree(_blocks[slot]);
        _blocks[slot] = NativeMemory.AlignedAlloc(bytes, bytes);
    }

    [Benchmark(Description = "mimalloc")]
    public void MimallocAlignedAlloc()
    {
        int step = _next++;
        int slot = step & (Ring - 1);
        nuint bytes = Bytes(s_orders[step & (Sequence - 1)]);
        Mimalloc.Free(_blocks[slot]);
        _blocks[slot] = Mimalloc.MallocAligned(bytes, bytes);
    }

    [Benchmark(Description = "Arena")]
    public void ArenaAllocate()
    {
        int step = _next++;
        int slot = step & (Ring - 1);
        _arena.Free(_folios[slot]);
        _folios[slot] = _arena.Allocate(s_orders[step & (Sequence - 1)]);
    }

    [GlobalCleanup(Target = nameof(NativeAlignedAlloc))]
    public void CleanupNative()
    {
        foreach (void* block in _blocks)
            NativeMemory.AlignedFree(block);
    }

    [GlobalCleanup(Target = nameof(MimallocAlignedAlloc))]
    public void CleanupMimalloc()
    {
        foreach (void* block in _blocks)
            Mimalloc.Free(block);
    }

    [GlobalCleanup(Target = nameof(ArenaAllocate))]
    public void CleanupArena() => _arena.Dispose();

    private static nuint Bytes(int order) => (nuint)PageGeometry.PageSize << order;

    private static int[] MakeOrders()
    {
        var random = new Random(2026);
        var orders = new int[Sequence];
        for (int i = 0; i < Sequence; i++)
        {
            orders[i] = random.Next(100) switch
            {
                < 50 => 0,
                < 70 => random.Next(1, 4),
                < 90 => random.Next(4, 9),
                _ => 9,
            };
        }

        return orders;
    }
}
