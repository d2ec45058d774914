using System;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;

namespace LargeFolios.Perf;

/// <summary>
/// <c>perf scale</c>: N threads each populating its own 256 MiB of one address space by write
/// faults at once (the shape of DESIGN.md's "16 threads each populating 256 MiB" anchor), for 1,
/// 2, 4, ... up to the core count, at orders 0, 64 KiB and 2 MiB, with real zeroing. Faults race
/// on the shared mmap lock, the per-CPU page sets and the buddy core. Prints the total
/// throughput (GB/s of memory populated) and the speed-up over one thread.
/// </summary>
internal static unsafe class ScalingRun
{
    private const ulong Base = 0x4000_0000;
    private const ulong PerThread = 256UL << 20;

    public static int Run(string[] args)
    {
        int maxThreads = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : Environment.ProcessorCount;
        bool populate = args.Length > 2 && args[2] == "populate";
        Console.WriteLine($"perf scale: {Environment.ProcessorCount} CPUs, up to {maxThreads} threads x 256 MiB, zeroing, {(populate ? "MADV_POPULATE_WRITE per thread" : "one store per page")}");
        Console.WriteLine("threads  order  GB/s    x1      ns/page/thread");
        foreach (int order in new[] { 0, 4, 9 })
        {
            double single = 0;
            for (int threads = 1; threads <= maxThreads; threads *= 2)
            {
                double seconds = Measure(threads, order, populate);
                double gbs = threads * (double)PerThread / seconds / 1e9;
                if (threads == 1)
                    single = gbs;
                double perPage = seconds * 1e9 / (PerThread >> 12);
                Console.WriteLine($"{threads,7}  {order,5}  {gbs,6:F2}  {gbs / single,5:F2}  {perPage,8:F1}");
                if (threads < maxThreads && threads * 2 > maxThreads)
                    threads = maxThreads / 2;
            }
        }

        return 0;
    }

    /// <summary>The best of three rounds: the wall time of the slowest thread.</summary>
    private static double Measure(int threads, int order, bool populate)
    {
        long bytes = (long)((ulong)threads * PerThread) + (512L << 20);
        using var arena = new Arena(bytes);
        NativeMemory.Clear(arena.BaseAddress, (nuint)arena.SizeBytes);   // resident before anything is timed
        using var machine = new Machine(arena);
        for (int k = ThpPolicy.MinAnonOrder; k <= PageGeometry.PmdOrder; k++)
            machine.Policy.SetSizeEnabled(k, k == order ? ThpSizeEnabled.Always : ThpSizeEnabled.Never);

        double best = double.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            using AddressSpace mm = machine.CreateAddressSpace();
            mm.Mmap(Base, (ulong)threads * PerThread);
            using var start = new Barrier(threads + 1);
            var elapsed = new double[threads];
            var workers = new Thread[threads];
            for (int t = 0; t < threads; t++)
            {
                int index = t;
                workers[t] = new Thread(() =>
                {
                    ulong from = Base + ((ulong)index * PerThread);
                    start.SignalAndWait();
                    long began = Stopwatch.GetTimestamp();
                    if (populate)
                    {
                        mm.Madvise(from, PerThread, MadviseAdvice.PopulateWrite);
                    }
                    else
                    {
                        for (ulong address = from; address < from + PerThread; address += PageGeometry.PageSize)
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
            if (mm.AnonPages != (long)((ulong)threads * PerThread >> PageGeometry.PageShift))
                throw new InvalidOperationException($"{threads} threads at order {order} mapped {mm.AnonPages} pages.");
        }

        return best;
    }
}
