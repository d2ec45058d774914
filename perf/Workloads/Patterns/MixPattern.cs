using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.Workloads.Patterns;

/// <summary>
/// An allocator's life, 2 MiB at a time: fill the chunk; give back a random run of up to 64 pages
/// with MADV_DONTNEED (glibc trimming a freed block) and another with MADV_FREE (jemalloc and
/// mimalloc purging lazily), both cutting through large folios and queueing them for deferred
/// split; reuse 16 random pages, some of them in the holes just made; and every eighth chunk
/// munmap it, mmap it again and refill a quarter of it. After each iteration the deferred-split
/// shrinker runs once, as memory pressure would run it.
/// </summary>
internal sealed class MixPattern : AccessPattern
{
    /// <summary>Pages per chunk: one PMD.</summary>
    public const long ChunkPages = 1 << PageGeometry.PmdOrder;

    /// <summary>The longest run a madvise gives back, in pages.</summary>
    public const int MaxAdvisedPages = 64;

    /// <summary>Random stores after the madvise calls.</summary>
    public const int ReusedPages = 16;

    /// <summary>One chunk in this many is unmapped and mapped again.</summary>
    public const int RemapEvery = 8;

    /// <inheritdoc/>
    public override void Run(WorkloadSlice slice)
    {
        ArgumentNullException.ThrowIfNull(slice);
        long index = 0;
        for (long chunk = 0; chunk < slice.Pages; chunk += ChunkPages, index++)
        {
            long pages = Math.Min(ChunkPages, slice.Pages - chunk);
            for (long page = 0; page < pages; page++)
                slice.Store(slice.PageAddress(chunk + page));

            GiveBack(slice, chunk, pages, MadviseAdvice.DontNeed);
            GiveBack(slice, chunk, pages, MadviseAdvice.Free);
            for (int i = 0; i < ReusedPages; i++)
                slice.Store(slice.PageAddress(chunk + slice.Random.NextInt64(pages)));

            if (index % RemapEvery == RemapEvery - 1)
            {
                slice.Remap(slice.PageAddress(chunk), pages);
                for (long page = 0; page < pages; page += 4)
                    slice.Store(slice.PageAddress(chunk + page));
            }

            slice.Advance(pages);
        }
    }

    /// <inheritdoc/>
    public override void EndIteration(Machine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        machine.ShrinkDeferredSplit();
    }

    private static void GiveBack(WorkloadSlice slice, long chunk, long pages, MadviseAdvice advice)
    {
        long first = slice.Random.NextInt64(pages);
        long length = Math.Min(1 + slice.Random.NextInt64(MaxAdvisedPages), pages - first);
        slice.Madvise(slice.PageAddress(chunk + first), length, advice);
    }
}
