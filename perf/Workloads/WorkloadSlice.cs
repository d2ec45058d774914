using System;
using System.Numerics;
using System.Runtime.ExceptionServices;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Cli;

namespace LargeFolios.Folios.Workloads;

/// <summary>
/// One thread's share of a workload: its part of the region, its random numbers, and the
/// accesses and syscalls a pattern makes through it, counted as they go. Only its thread uses it
/// while the workload runs.
/// </summary>
internal sealed class WorkloadSlice
{
    // Progress is published in steps of this many pages: often enough for a bar, rarely enough
    // that the shared counter's cache line stays out of the fault path.
    private const long ProgressStep = 512;

    private readonly AddressSpace _space;
    private readonly HugePageAdvice _advice;
    private readonly WorkProgress? _progress;
    private readonly ulong[] _written;
    private long _unpublished;

    /// <summary>Creates thread <paramref name="index"/>'s slice [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>).</summary>
    public WorkloadSlice(AddressSpace space, int index, ulong start, ulong length, int seed, HugePageAdvice advice, WorkProgress? progress)
    {
        _space = space;
        _advice = advice;
        _progress = progress;
        Index = index;
        Start = start;
        End = start + length;
        Pages = (long)(length >> PageGeometry.PageShift);
        Random = new Random(seed);
        _written = new ulong[(Pages + 63) / 64];
    }

    /// <summary>The thread's index, 0-based.</summary>
    public int Index { get; }

    /// <summary>The slice's first address.</summary>
    public ulong Start { get; }

    /// <summary>The address just past the slice.</summary>
    public ulong End { get; }

    /// <summary>Pages in the slice.</summary>
    public long Pages { get; }

    /// <summary>This thread's random numbers (seeded per thread, so a run repeats exactly).</summary>
    public Random Random { get; }

    /// <summary>Stores made, every iteration together.</summary>
    public long Stores { get; private set; }

    /// <summary>Loads made, every iteration together.</summary>
    public long Loads { get; private set; }

    /// <summary>madvise calls made (dontneed, free), every iteration together.</summary>
    public long Madvises { get; private set; }

    /// <summary>munmap + mmap pairs made by the pattern, every iteration together.</summary>
    public long Remaps { get; private set; }

    /// <summary>The address of the access or call in progress (where a failure happened).</summary>
    public ulong CurrentAddress { get; private set; }

    /// <summary>Where and why this thread stopped early, or null.</summary>
    public WorkloadFailure? Failure { get; set; }

    /// <summary>An exception that is not a workload's result (a bug), kept to be thrown on the runner's thread.</summary>
    public ExceptionDispatchInfo? Bug { get; set; }

    /// <summary>Distinct pages stored to in the current iteration.</summary>
    public long PagesWritten
    {
        get
        {
            long count = 0;
            foreach (ulong word in _written)
                count += BitOperations.PopCount(word);
            return count;
        }
    }

    /// <summary>The address of page <paramref name="page"/> of the slice.</summary>
    public ulong PageAddress(long page) => Start + ((ulong)page << PageGeometry.PageShift);

    /// <summary>Forgets which pages were written: a new iteration maps the region afresh.</summary>
    public void BeginIteration() => Array.Clear(_written);

    /// <summary>A store of a non-zero byte (the CPU's: a write fault first if the page is not mapped writable).</summary>
    public void Store(ulong address)
    {
        CurrentAddress = address;
        _space.Write(address);
        ulong offset = address - Start;
        if (offset < End - Start)   // a pattern may reach past its slice; only its own pages are counted
        {
            long page = (long)(offset >> PageGeometry.PageShift);
            _written[page >> 6] |= 1UL << (int)(page & 63);
        }

        Stores++;
    }

    /// <summary>A load (a read fault first if nothing is mapped).</summary>
    public void Load(ulong address)
    {
        CurrentAddress = address;
        _space.Read(address);
        Loads++;
    }

    /// <summary>madvise of <paramref name="pages"/> pages from <paramref name="address"/>.</summary>
    public void Madvise(ulong address, long pages, MadviseAdvice advice)
    {
        CurrentAddress = address;
        _space.Madvise(address, (ulong)pages << PageGeometry.PageShift, advice);
        Madvises++;
    }

    /// <summary>munmap then mmap the range again, advised as the whole region was: an allocator returning a chunk and taking it back.</summary>
    public void Remap(ulong address, long pages)
    {
        CurrentAddress = address;
        ulong length = (ulong)pages << PageGeometry.PageShift;
        _space.Munmap(address, length);
        _space.Mmap(address, length);
        Advise(_space, address, length, _advice);
        Remaps++;
    }

    /// <summary>Reports <paramref name="pages"/> more pages of the slice covered.</summary>
    public void Advance(long pages)
    {
        _unpublished += pages;
        if (_unpublished >= ProgressStep)
            Flush();
    }

    /// <summary>Publishes whatever progress is still unreported.</summary>
    public void Flush()
    {
        _progress?.Advance(_unpublished);
        _unpublished = 0;
    }

    /// <summary>Gives <paramref name="advice"/> for a range, as the region was given it when mapped.</summary>
    public static void Advise(AddressSpace space, ulong address, ulong length, HugePageAdvice advice)
    {
        ArgumentNullException.ThrowIfNull(space);
        if (advice != HugePageAdvice.None)
            space.Madvise(address, length, advice == HugePageAdvice.HugePage ? MadviseAdvice.HugePage : MadviseAdvice.NoHugePage);
    }
}
