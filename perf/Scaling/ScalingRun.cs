using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Cli;

namespace LargeFolios.Folios.Scaling;

/// <summary>
/// <c>folios scale</c>'s measurement: N threads each populating its own slice of one address space
/// by write faults at once (the shape of docs/design.md's "16 threads each populating 256 MiB"
/// anchor), for 1, 2, 4, ... up to a maximum, at orders 0, 4 (64 KiB) and 9 (2 MiB), with real
/// zeroing. Faults race on the shared mmap lock, the per-CPU page sets and the buddy core. Each
/// point is the best of three rounds, timed by its slowest thread.
/// </summary>
internal static unsafe class ScalingRun
{
    /// <summary>The orders measured: base pages, 64 KiB mTHP, PMD THP.</summary>
    public static readonly int[] Orders = [0, 4, PageGeometry.PmdOrder];

    /// <summary>Rounds per point; the best counts.</summary>
    public const int Rounds = 3;

    private const ulong Base = 0x4000_0000;

    /// <summary>1, 2, 4, ... below <paramref name="maxThreads"/>, then <paramref name="maxThreads"/> itself.</summary>
    public static IReadOnlyList<int> ThreadCounts(int maxThreads)
    {
        var counts = new List<int>();
        for (int threads = 1; threads < maxThreads; threads *= 2)
            counts.Add(threads);
        counts.Add(maxThreads);
        return counts;
    }

    /// <summary>The arena of a point: every thread's slice and room for page tables and per-CPU caches, in whole 4 MiB blocks.</summary>
    private static long ArenaBytesFor(int threads, ulong perThread)
    {
        long total = (long)((ulong)threads * perThread);
        long slack = Math.Max(32L << 20, total / 8);
        long granule = (long)PageGeometry.PageSize << PageGeometry.DefaultMaxOrder;
        return (total + slack + granule - 1) / granule * granule;
    }

    /// <summary>Measures every order at every thread count.</summary>
    /// <param name="maxThreads">The most threads.</param>
    /// <param name="perThreadBytes">Each thread's slice, whole 2 MiB.</param>
    /// <param name="populate">MADV_POPULATE_WRITE per slice instead of a store to every page.</param>
    /// <param name="progress">Advanced by one per round. Optional.</param>
    /// <exception cref="HostMemoryException">The largest point's arena is more than the host-memory bound has left; nothing ran.</exception>
    public static IReadOnlyList<ScalingPoint> Measure(int maxThreads, long perThreadBytes, bool populate, WorkProgress? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxThreads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perThreadBytes);
        IReadOnlyList<int> counts = ThreadCounts(maxThreads);

        // The largest point's arena, all of it touched, checked before the first point runs.
        long largest = ArenaBytesFor(maxThreads, (ulong)perThreadBytes);
        HostMemory.Process.EnsureAvailable(Arena.HostBytesFor(largest), $"the {maxThreads}-thread point's {ByteSize.FormatRounded(largest)} arena");
        progress?.Plan((long)Orders.Length * counts.Count * Rounds);

        var points = new List<ScalingPoint>();
        foreach (int order in Orders)
        {
            double single = 0;
            foreach (int threads in counts)
            {
                double seconds = MeasureOne(threads, order, (ulong)perThreadBytes, populate, progress);
                double gbs = threads * (double)perThreadBytes / seconds / 1e9;
                if (threads == 1)
                    single = gbs;
                double perPage = seconds * 1e9 / (perThreadBytes >> PageGeometry.PageShift);
                points.Add(new ScalingPoint(threads, order, seconds, gbs, gbs / single, perPage));
            }
        }

        return points;
    }

    /// <summary>The best of <see cref="Rounds"/> rounds: the wall time of the slowest thread.</summary>
    private static double MeasureOne(int threads, int order, ulong perThread, bool populate, WorkProgress? progress)
    {
        using var arena = new Arena(ArenaBytesFor(threads, perThread));
        NativeMemory.Clear(arena.BaseAddress, (nuint)arena.SizeBytes);   // resident before anything is timed
        using var machine = new Machine(arena);
        for (int k = ThpPolicy.MinAnonOrder; k <= PageGeometry.PmdOrder; k++)
            machine.Policy.SetSizeEnabled(k, k == order ? ThpSizeEnabled.Always : ThpSizeEnabled.Never);

        double best = double.MaxValue;
        for (int round = 0; round < Rounds; round++)
        {
            using AddressSpace mm = machine.CreateAddressSpace();
            mm.Mmap(Base, (ulong)threads * perThread);
            using var start = new Barrier(threads + 1);
            var elapsed = new double[threads];
            var workers = new Thread[threads];
            for (int t = 0; t < threads; t++)
            {
                int index = t;
                workers[t] = new Thread(() =>
                {
                    ulong from = Base + ((ulong)index * perThread);
                    start.SignalAndWait();
                    long began = Stopwatch.GetTimestamp();
                    if (populate)
                    {
                        mm.Madvise(from, perThread, MadviseAdvice.PopulateWrite);
                    }
                    else
                    {
                        for (ulong address = from; address < from + perThread; address += PageGeometry.PageSize)
                            mm.Write(address);
                    }

                    elapsed[index] = Stopwatch.GetElapsedTime(began).TotalSeconds;
                });
                workers[t].Start();
            }

            start.SignalAndWait();
            foreach (Thread worker in workers)
                worker.Join();
            double slowest = 0;
            foreach (double seconds in elapsed)
                slowest = Math.Max(slowest, seconds);
            best = Math.Min(best, slowest);
            if (mm.AnonPages != (long)((ulong)threads * perThread >> PageGeometry.PageShift))
                throw new InvalidOperationException($"{threads} threads at order {order} mapped {mm.AnonPages} pages.");
            progress?.Advance(1);
        }

        return best;
    }
}
