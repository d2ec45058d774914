using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.Bench;

/// <summary>
/// One allocate + free pair of a naturally aligned block, with no other block live or with 256
/// live: each operation frees the oldest of a ring of 256 live blocks and allocates its
/// replacement. Three allocators side by side in the same run: NativeMemory.AlignedAlloc (glibc
/// aligned_alloc, the baseline), mimalloc's mi_malloc_aligned, and the arena.
/// </summary>
[MemoryDiagnoser(displayGenColumns: false)]
public unsafe class AllocFreePairBenchmarks
{
    private const int Ring = 256;
    private Arena _arena = null!;
    private Folio[] _folios = null!;
    private void*[] _blocks = null!;
    private int _next;
    private int _order;

    /// <summary>Block size: 4 KiB (order 0), 64 KiB (order 4), 2 MiB (order 9, a PMD THP).</summary>
    [Params(4096, 65536, 2097152)]
    public int Size { get; set; }

    /// <summary>Blocks kept live around the measured pair.</summary>
    [Params(0, Ring)]
    public int Live { get; set; }

    [GlobalSetup(Target = nameof(NativeAlignedAlloc))]
    public void SetupNative()
    {
        Setup();
        for (int i = 0; i < Live; i++)
            _blocks[i] = NativeMemory.AlignedAlloc((nuint)Size, (nuint)Size);
    }

    [GlobalSetup(Target = nameof(MimallocAlignedAlloc))]
    public void SetupMimalloc()
    {
        Setup();
        for (int i = 0; i < Live; i++)
            _blocks[i] = Mimalloc.MallocAligned((nuint)Size, (nuint)Size);
    }

    [GlobalSetup(Target = nameof(ArenaAllocate))]
    public void SetupArena()
    {
        Setup();
        _arena = new Arena(1L << 30);
        for (int i = 0; i < Live; i++)
            _folios[i] = _arena.Allocate(_order);
    }

    [Benchmark(Baseline = true, Description = "NativeMemory.AlignedAlloc")]
    public void NativeAlignedAlloc()
    {
        if (Live == 0)
        {
            NativeMemory.AlignedFree(NativeMemory.AlignedAlloc((nuint)Size, (nuint)Size));
            return;
        }

        int slot = _next++ & (Ring - 1);
        NativeMemory.AlignedFree(_blocks[slot]);
        _blocks[slot] = NativeMemory.AlignedAlloc((nuint)Size, (nuint)Size);
    }

    [Benchmark(Description = "mimalloc")]
    public void MimallocAlignedAlloc()
    {
        if (Live == 0)
        {
            Mimalloc.Free(Mimalloc.MallocAligned((nuint)Size, (nuint)Size));
            return;
        }

        int slot = _next++ & (Ring - 1);
        Mimalloc.Free(_blocks[slot]);
        _blocks[slot] = Mimalloc.MallocAligned((nuint)Size, (nuint)Size);
    }

    [Benchmark(Description = "Arena")]
    public void ArenaAllocate()
    {
        if (Live == 0)
        {
            _arena.Free(_arena.Allocate(_order));
            return;
        }

        int slot = _next++ & (Ring - 1);
        _arena.Free(_folios[slot]);
        _folios[slot] = _arena.Allocate(_order);
    }

    [GlobalCleanup(Target = nameof(NativeAlignedAlloc))]
    public void CleanupNative()
    {
        for (int i = 0; i < Live; i++)
            NativeMemory.AlignedFree(_blocks[i]);
    }

    [GlobalCleanup(Target = nameof(MimallocAlignedAlloc))]
    public void CleanupMimalloc()
    {
        for (int i = 0; i < Live; i++)
            Mimalloc.Free(_blocks[i]);
    }

    [GlobalCleanup(Target = nameof(ArenaAllocate))]
    public void CleanupArena() => _arena.Dispose();

    private void Setup()
    {
        _order = System.Numerics.BitOperations.Log2((uint)Size) - PageGeometry.PageShift;
        _folios = new Folio[Ring];
        _blocks = new void*[Ring];
        _next = 0;
    }
}
