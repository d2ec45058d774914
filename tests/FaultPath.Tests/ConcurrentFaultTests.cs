using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Four threads faulting into one address space at once (the mmap lock held for read by all of
/// them, as Linux's faults hold it), racing each other, readers, the deferred-split shrinker,
/// MADV_DONTNEED, MADV_FREE and debugfs splits. After the threads join: every invariant, every
/// page mapped once by a whole folio, the data, and at teardown no page leaked. Then two threads
/// at a time on the narrower races: exit against the shrinker and against stores, a debugfs split
/// against the fault that maps a PMD THP.
/// </summary>
public sealed class ConcurrentFaultTests
{
    private const int Threads = 4;
    private const int RegionPages = 2048;    // 8 MiB
    private const ulong Region = RegionPages * Page;

    private static ulong PageAddress(int page) => Base + ((ulong)page * Page);

    /// <summary>
    /// Runs <paramref name="work"/> on <paramref name="threads"/> threads of their own (long-running
    /// tasks, so the pool's two workers on a two-core machine do not serialise them), released
    /// together by a barrier so that they really overlap.
    /// </summary>
    internal static async Task RunTogether(Action<int> work, int threads = Threads)
    {
        using var barrier = new Barrier(threads);
        var tasks = new Task[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            tasks[t] = Task.Factory.StartNew(
                () =>
                {
                    barrier.SignalAndWait();
                    work(id);
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        }

        await Task.WhenAll(tasks);
    }

    /// <summary>
    /// Races two writers (threads 2 and 3, each running <paramref name="write"/> once) against two
    /// disturbers (threads 0 and 1, running <paramref name="disturbFirst"/> and
    /// <paramref name="disturbSecond"/> again and again, yielding between runs) until both writers
    /// are done. Each thread draws from its own <see cref="Random"/>, seeded <paramref name="seed"/>
    /// plus the thread's index.
    /// </summary>
    private static Task RaceWritersAgainst(int seed, Action<Random> disturbFirst, Action<Random> disturbSecond, Action<Random> write)
    {
        int writersLeft = Threads - 2;
        return RunTogether(t =>
        {
            var random = new Random(seed + t);
            if (t >= 2)
            {
                try
                {
                    write(random);
                }
                finally
                {
                    Interlocked.Decrement(ref writersLeft);
                }

                return;
            }

            Action<Random> disturb = t == 0 ? disturbFirst : disturbSecond;
            while (Volatile.Read(ref writersLeft) > 0)
            {
                disturb(random);
                Thread.Yield();
            }
        });
    }

    private static int[] Shuffled(int count, Random random)
    {
        int[] pages = Enumerable.Range(0, count).ToArray();
        random.Shuffle(pages);
        return pages;
    }

    /// <summary>
    /// With no zap or split since the faults, every folio is mapped whole, at its natural
    /// alignment, by the fault that made it; and each size's nr_anon counts the folios the layout shows.
    /// </summary>
    private static void AssertWholeFolios(World world, ulong start, int pages)
    {
        AddressSpace mm = world.Mm;
        var folios = new int[10];
        long mapped = 0;
        foreach (LayoutRun run in mm.GetLayout())
        {
            Assert.False(run.IsZero, $"zero-page run {run} left after every page was written");
            Assert.Equal(1L << run.Order, run.Pages);
            Assert.Equal(0UL, run.Address % (Page << run.Order));
            folios[run.Order]++;
            mapped += run.Pages;
        }

        Assert.Equal(pages, mapped);
        for (int order = 2; order <= 9; order++)
            Assert.Equal(folios[order], world.Stat(order, MthpStatItem.NrAnon));
        for (int page = 0; page < pages; page++)
        {
            Pte pte = mm.Translate(start + ((ulong)page * Page));
            Assert.True(pte.IsPresent && pte.IsWritable && !pte.IsSpecial, $"page {page} maps {pte}");
        }

        LayoutChecks.TranslateAgreesWithLayout(world.Machine, mm);
    }

    // ------------------------------------------------------------------ (a) same pages

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Threads_writing_the_same_pages_map_each_page_once(int seed)
    {
        using var world = new World(arenaBytes: 64 * MiB);
        AddressSpace mm = world.Mm;
        world.Policy.Enabled = seed % 2 == 0 ? ThpEnabled.Always : ThpEnabled.Madvise;
        world.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(5, ThpSizeEnabled.Madvise);

        for (int round = 0; round < 4; round++)
        {
            // MAP_FIXED over the last round's mapping: a fresh, empty region.
            // A quarter order 0 only (many small faults, so many races), a quarter 16/64 KiB,
            // half VM_HUGEPAGE (PMD THPs, and 128 KiB where a PMD is taken by PTEs).
            mm.Mmap(Base, Region);
            mm.Madvise(Base, Region / 4, MadviseAdvice.NoHugePage);
            mm.Madvise(Base + (Region / 2), Region / 2, MadviseAdvice.HugePage);
            long allocated = Enumerable.Range(2, 8).Sum(o => world.Stat(o, MthpStatItem.AnonFaultAlloc));
            long faults = world.Event(VmEvent.AnonFolioFault) + world.Event(VmEvent.PmdFolioFault);

            int[][] orders = Enumerable.Range(0, Threads)
                .Select(t => Shuffled(RegionPages, new Random((seed * 1000) + (round * 10) + t)))
                .ToArray();
            await RunTogether(t =>
            {
                foreach (int page in orders[t])
                    mm.Write(PageAddress(page) + (ulong)t, 1);
            });

            world.Machine.Validate();
            Assert.Equal(RegionPages, mm.AnonPages);
            AssertWholeFolios(world, Base, RegionPages);

            // Losers of a race freed their folio uncounted: one count per folio mapped.
            IReadOnlyList<LayoutRun> layout = mm.GetLayout();
            Assert.Equal(layout.Count, world.Event(VmEvent.AnonFolioFault) + world.Event(VmEvent.PmdFolioFault) - faults);
            Assert.Equal(
                layout.Count(r => r.Order >= 2),
                Enumerable.Range(2, 8).Sum(o => world.Stat(o, MthpStatItem.AnonFaultAlloc)) - allocated);
            for (int page = 0; page < RegionPages; page++)
                Assert.Equal(1, mm.Read(PageAddress(page)));
        }

        world.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ (b) disjoint PMDs

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Threads_in_disjoint_pmd_ranges_never_race(int seed)
    {
        const int Pmds = 8;
        using var world = new World(arenaBytes: 64 * MiB);
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(3, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(6, ThpSizeEnabled.Always);
        mm.Mmap(Base, Pmds * Pmd);
        for (int pmd = 0; pmd < Pmds; pmd++)
        {
            if (((seed >> (pmd % 3)) + pmd) % 2 == 0)
                mm.Madvise(Base + ((ulong)pmd * Pmd), Pmd, MadviseAdvice.HugePage);
        }

        await RunTogether(t =>
        {
            var random = new Random((seed * 31) + t);
            for (int pmd = t; pmd < Pmds; pmd += Threads)
            {
                foreach (int page in Shuffled(512, random))
                {
                    // Some pages read first: the zero page (or the huge zero page), then copied.
                    ulong address = Base + ((ulong)pmd * Pmd) + ((ulong)page * Page);
                    if (page % 7 == 0)
                        Assert.Equal(0, mm.Read(address));
                    mm.Write(address, 1);
                }
            }
        });

        world.Machine.Validate();
        Assert.Equal(Pmds * 512, mm.AnonPages);
        AssertWholeFolios(world, Base, Pmds * 512);

        // No two threads ever met at one page table: no fault was spurious or retried.
        Assert.Equal(0, world.Event(VmEvent.SpuriousFault));
        long faults = world.Event(VmEvent.AnonFolioFault) + world.Event(VmEvent.PmdFolioFault) + world.Event(VmEvent.CowFault)
            + world.Event(VmEvent.ZeroPageFault) + world.Event(VmEvent.HugeZeroPageFault);
        Assert.Equal(world.Event(VmEvent.PgFault), faults);
        world.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ (c) readers and writers

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Readers_racing_writers_see_zero_or_the_data(int seed)
    {
        using var world = new World(arenaBytes: 64 * MiB);
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);

        for (int round = 0; round < 3; round++)
        {
            mm.Mmap(Base, Region);
            mm.Madvise(Base + Pmd, 2 * Pmd, MadviseAdvice.HugePage);
            int badReads = 0;
            await RunTogether(t =>
            {
                var random = new Random((seed * 100) + (round * 10) + t);
                int[] pages = Shuffled(RegionPages, random);
                if (t < 2)
                {
                    foreach (int page in pages)
                    {
                        byte value = mm.Read(PageAddress(page) + 0x40);
                        if (value > 1)
                            Interlocked.Increment(ref badReads);
                    }
                }
                else
                {
                    foreach (int page in pages)
                        mm.Write(PageAddress(page) + 0x40, 1);
                }
            });

            Assert.Equal(0, badReads);
            world.Machine.Validate();
            Assert.Equal(RegionPages, mm.AnonPages);
            AssertWholeFolios(world, Base, RegionPages);
            for (int page = 0; page < RegionPages; page++)
                Assert.Equal(1, mm.Read(PageAddress(page) + 0x40));
        }

        world.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ (d) shrinker and DONTNEED

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Shrinker_and_dontneed_racing_faults_keep_every_invariant(int seed)
    {
        using var world = new World(arenaBytes: 64 * MiB);
        AddressSpace mm = world.Mm;
        world.Policy.Enabled = ThpEnabled.Always;
        world.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(7, ThpSizeEnabled.Always);
        world.Policy.MaxPtesNone = 256;
        mm.Mmap(Base, Region);
        await RaceWritersAgainst(
            seed * 17,
            random => world.Machine.ShrinkDeferredSplit(random.Next(1, 8)),
            random =>
            {
                int first = random.Next(RegionPages);
                int count = random.Next(2) == 0 ? random.Next(1, 40) : 512;
                if (count == 512)
                    first &= ~511;
                count = Math.Min(count, RegionPages - first);
                mm.Madvise(PageAddress(first), (ulong)count * Page, MadviseAdvice.DontNeed);
            },
            random =>
            {
                for (int i = 0; i < 20000; i++)
                {
                    int page = random.Next(RegionPages);
                    if (i % 5 == 0)
                        Assert.InRange(mm.Read(PageAddress(page)), 0, 1);
                    else
                        mm.Write(PageAddress(page), 1);
                }
            });

        world.Machine.Validate();
        LayoutChecks.TranslateAgreesWithLayout(world.Machine, mm);

        // The shrinker can now split whatever partially mapped folios the zaps left.
        world.Machine.ShrinkDeferredSplit();
        world.Machine.Validate();
        Assert.Equal(0, world.Machine.MthpStats.NonZero().Where(s => s.Item == MthpStatItem.NrAnonPartiallyMapped).Sum(s => s.Value));
        LayoutChecks.TranslateAgreesWithLayout(world.Machine, mm);
        world.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ (e) splits and MADV_FREE

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Splits_and_madv_free_racing_faults_lose_no_data(int seed)
    {
        using var world = new World(arenaBytes: 64 * MiB);
        AddressSpace mm = world.Mm;
        world.Policy.SetSizeEnabled(3, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(5, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(9, ThpSizeEnabled.Always);
        mm.Mmap(Base, Region);
        var written = new int[RegionPages];
        await RaceWritersAgainst(
            seed * 7,
            random =>
            {
                int first = random.Next(RegionPages);
                int order = random.Next(9);
                mm.SplitFolios(PageAddress(first), (ulong)Math.Min(64, RegionPages - first) * Page, order, random.Next(2) == 0 ? -1 : random.Next(512));
            },
            random =>
            {
                int first = random.Next(RegionPages);
                int count = Math.Min(random.Next(1, 100), RegionPages - first);
                mm.Madvise(PageAddress(first), (ulong)count * Page, MadviseAdvice.Free);
                world.Machine.ShrinkDeferredSplit(4);
            },
            random =>
            {
                for (int i = 0; i < 15000; i++)
                {
                    int page = random.Next(RegionPages);
                    mm.Write(PageAddress(page) + 0x99, 1);
                    Volatile.Write(ref written[page], 1);
                }
            });

        world.Machine.Validate();
        LayoutChecks.TranslateAgreesWithLayout(world.Machine, mm);
        for (int page = 0; page < RegionPages; page++)
        {
            if (written[page] == 1)
                Assert.Equal(1, mm.Read(PageAddress(page) + 0x99));
        }

        world.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ (g) mmap / munmap churn

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Mmap_and_munmap_churn_racing_faults_keep_every_invariant(int seed)
    {
        using var world = new World(arenaBytes: 64 * MiB);
        AddressSpace mm = world.Mm;
        world.Policy.Enabled = ThpEnabled.Always;
        world.Policy.SetSizeEnabled(3, ThpSizeEnabled.Always);
        world.Policy.SetSizeEnabled(6, ThpSizeEnabled.Always);
        mm.Mmap(Base, Region);
        await RaceWritersAgainst(
            seed * 13,
            random =>
            {
                int first = random.Next(RegionPages);
                int count = random.Next(3) == 0 ? 512 : random.Next(1, 200);
                if (count == 512)
                    first &= ~511;
                count = Math.Min(count, RegionPages - first);
                if (random.Next(2) == 0)
                    mm.Munmap(PageAddress(first), (ulong)count * Page);
                else
                    mm.Mmap(PageAddress(first), (ulong)count * Page, random.Next(4) == 0 ? VmaFlags.Read : VmaFlags.Read | VmaFlags.Write);
            },
            random =>
            {
                world.Machine.ShrinkDeferredSplit(8);
                int first = random.Next(RegionPages);
                mm.SplitFolios(PageAddress(first), (ulong)Math.Min(256, RegionPages - first) * Page, random.Next(9));
            },
            random =>
            {
                for (int i = 0; i < 20000; i++)
                {
                    ulong address = PageAddress(random.Next(RegionPages)) + (ulong)random.Next(4096);
                    try
                    {
                        if (i % 4 == 0)
                            Assert.InRange(mm.Read(address), 0, 1);
                        else
                            mm.Write(address, 1);
                    }
                    catch (SegmentationFaultException fault)
                    {
                        Assert.Equal(address, fault.Address);
                    }
                }
            });

        world.Machine.Validate();
        LayoutChecks.TranslateAgreesWithLayout(world.Machine, mm);
        world.Machine.ShrinkDeferredSplit();
        world.Machine.Validate();
        world.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ (f) exit racing the shrinker

    /// <summary>
    /// The deferred-split shrinker is machine-wide (kswapd, in Linux); a process may exit
    /// (<c>exit_mmap</c>) while it runs. Neither may fail, and nothing may leak.
    /// </summary>
    [Fact]
    public async Task Address_space_exit_racing_the_shrinker_neither_fails_nor_leaks()
    {
        using var testMachine = new TestMachine(64 * MiB);
        Machine machine = testMachine.Machine;
        machine.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        int stop = 0;
        Task<long> shrinker = Task.Factory.StartNew(
            () =>
            {
                long split = 0;
                while (Volatile.Read(ref stop) == 0)
                    split += machine.ShrinkDeferredSplit();
                return split;
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.ElapsedMilliseconds < 2500)
            {
                AddressSpace mm = machine.CreateAddressSpace();
                mm.Mmap(Base, Pmd);
                for (ulong va = Base; va < Base + Pmd; va += Page)
                    mm.Write(va);
                for (ulong va = Base; va < Base + Pmd; va += 0x10000)
                    mm.Madvise(va, Page, MadviseAdvice.DontNeed);
                mm.Dispose();
            }
        }
        finally
        {
            Volatile.Write(ref stop, 1);
        }

        Assert.True(await shrinker >= 0);
        Assert.Equal(0, machine.AddressSpaceCount);
        machine.Validate();
        testMachine.TearDownAndAssertNoLeak();
    }

    /// <summary>
    /// Exit (<c>exit_mmap</c>) takes the mmap lock for write; a store that waited for it finds the
    /// address space gone and is refused cleanly (<see cref="ObjectDisposedException"/>), and
    /// nothing it or exit touched is leaked.
    /// </summary>
    [Fact]
    public void Stores_racing_exit_are_refused_cleanly_and_leak_nothing()
    {
        for (int round = 0; round < 40; round++)
        {
            using var testMachine = new TestMachine(256 * MiB);
            Machine machine = testMachine.Machine;
            AddressSpace mm = machine.CreateAddressSpace();
            mm.Mmap(Base, 4 << 20);
            mm.Write(Base);
            Exception? unexpected = null;
            using var started = new ManualResetEventSlim();
            var writer = new Thread(() =>
            {
                started.Set();
                try
                {
                    for (ulong i = 0; ; i++)
                        mm.Write(Base + ((i % 1024) << 12));
                }
                catch (ObjectDisposedException)
                {
                }
                catch (Exception e)
                {
                    unexpected = e;
                }
            });
            writer.Start();
            started.Wait();
            Thread.SpinWait(round * 100);
            mm.Dispose();
            writer.Join();
            Assert.Null(unexpected);
            machine.Validate();
            Assert.Equal(0, machine.AddressSpaceCount);
            testMachine.TearDownAndAssertNoLeak();
        }
    }

    /// <summary>
    /// A new PMD THP is queued for the underused shrinker before its PMD lock is dropped, so a
    /// debugfs split racing the fault that maps it never finds it half set up.
    /// </summary>
    [Fact]
    public void A_split_racing_the_fault_that_maps_a_PMD_THP_finds_it_whole()
    {
        using var testMachine = new TestMachine(1L << 30);
        Machine machine = testMachine.Machine;
        using (AddressSpace mm = machine.CreateAddressSpace())
        {
            const ulong Length = 64UL << 20;
            mm.Mmap(Base, Length);
            mm.Madvise(Base, Length, MadviseAdvice.HugePage);
            long target = -1;
            bool stop = false;
            Thread StartSplitter()
            {
                var thread = new Thread(() =>
                {
                    while (!Volatile.Read(ref stop))
                    {
                        long region = Volatile.Read(ref target);
                        if (region >= 0)
                            mm.SplitFolios(Base + ((ulong)region << 21), 4096, 0);
                    }
                });
                thread.Start();
                return thread;
            }

            Thread splitter = StartSplitter();
            try
            {
                for (int round = 0; round < 3; round++)
                {
                    for (long region = 0; region < (long)(Length >> 21); region++)
                    {
                        Volatile.Write(ref target, region);
                        mm.Write(Base + ((ulong)region << 21) + 4096);
                    }

                    Volatile.Write(ref target, -1);
                    Thread.Sleep(5);
                    Volatile.Write(ref stop, true);
                    splitter.Join();
                    machine.Validate();
                    mm.Madvise(Base, Length, MadviseAdvice.DontNeed);
                    if (round < 2)
                    {
                        Volatile.Write(ref stop, false);
                        splitter = StartSplitter();
                    }
                }
            }
            finally
            {
                Volatile.Write(ref stop, true);
                splitter.Join();
            }

            machine.Validate();
        }

        testMachine.AssertOnlyZeroPagesLeft();
        testMachine.TearDownAndAssertNoLeak();
    }
}
