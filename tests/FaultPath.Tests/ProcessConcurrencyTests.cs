using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.PageTables;
using LargeFolios.TestSupport;
using Xunit;
using Xunit.Abstractions;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Faults racing the syscalls that reach across processes, on one machine: copy-on-write from
/// both sides of a fork while a third thread forks and exits again, mprotect, mremap moves, fork
/// and exit in a loop, and the deferred-split shrinker, MADV_COLLAPSE and MADV_FREE over folios
/// that several processes share, some of them partially mapped. Each race runs a fixed number of
/// phases on threads of their own: in each phase every thread takes one step (a few faults, or
/// one syscall) and waits for the others at a barrier, so the steps of a phase overlap; a race
/// that does not finish fails as a deadlock rather than hanging. After the threads join: every
/// invariant of the machine (<see cref="Machine.Validate"/>), what each process reads (what it,
/// or its parent before the fork, stored, and nothing another process stored), and at teardown
/// every page back in the arena.
/// </summary>
public sealed class ProcessConcurrencyTests(ITestOutputHelper output)
{
    private const int Pages = 1024;          // 4 MiB: two PMD ranges
    private const ulong Region = Pages * Page;

    /// <summary>How long the threads of one race may take before the test calls it a deadlock.</summary>
    private static readonly TimeSpan HangTimeout = TimeSpan.FromSeconds(120);

    /// <summary>Where a store leaves its mark in each page, and a load looks for it (the same byte, so a real arena's bytes answer as a metadata-only one's bits do).</summary>
    private const ulong Mark = 0x9a8;

    /// <summary>The start of page <paramref name="page"/> of a range at <paramref name="start"/>, for the syscalls.</summary>
    private static ulong At(int page, ulong start = Base) => start + ((ulong)page * Page);

    /// <summary>The byte of page <paramref name="page"/> the loads and stores use.</summary>
    private static ulong Byte(int page, ulong start = Base) => At(page, start) + Mark;

    /// <summary>
    /// A machine on a metadata-only arena and the address spaces made on it, disposed in the order
    /// the API requires. After a race that hung, nothing is disposed: threads may still be inside
    /// the arena, whose memory is left to the process.
    /// </summary>
    private sealed class Lab(long arenaBytes) : IDisposable
    {
        private readonly TestMachine _testMachine = new(arenaBytes);
        private readonly List<AddressSpace> _spaces = [];
        private bool _hung;

        public Machine Machine => _testMachine.Machine;

        public ThpPolicy Policy => Machine.Policy;

        public AddressSpace Spawn() => Track(Machine.CreateAddressSpace());

        /// <summary>Remembers <paramref name="mm"/> (a fork's child, from any thread) for disposal.</summary>
        public AddressSpace Track(AddressSpace mm)
        {
            lock (_spaces)
                _spaces.Add(mm);
            return mm;
        }

        /// <summary>
        /// Runs <paramref name="steps"/> on threads of their own (long-running tasks, so the pool's
        /// two workers on a two-core machine do not serialise them) in <paramref name="phases"/>
        /// phases: in each, every thread takes one step, then waits at a barrier for the others, so
        /// every step of a phase overlaps the others' steps of that phase. Thread <c>t</c> draws from
        /// <c>new Random(seed * 101 + t)</c>. A thread that throws leaves the barrier (the others go
        /// on to the end) and fails the race; threads still running after <see cref="HangTimeout"/>
        /// fail it as a deadlock.
        /// </summary>
        public async Task Race(int seed, int phases, params Action<Random>[] steps)
        {
            using var barrier = new Barrier(steps.Length);
            var tasks = new Task[steps.Length];
            var phase = new int[steps.Length];
            for (int t = 0; t < steps.Length; t++)
            {
                int id = t;
                tasks[t] = Task.Factory.StartNew(
                    () =>
                    {
                        var random = new Random((seed * 101) + id);
                        try
                        {
                            for (; phase[id] < phases; phase[id]++)
                            {
                                steps[id](random);
                                barrier.SignalAndWait();
                            }
                        }
                        catch
                        {
                            barrier.RemoveParticipant();
                            throw;
                        }
                    },
                    CancellationToken.None,
                    TaskCreationOptions.LongRunning,
                    TaskScheduler.Default);
            }

            try
            {
                await Task.WhenAll(tasks).WaitAsync(HangTimeout);
            }
            catch (TimeoutException)
            {
                _hung = true;
                string stuck = string.Join(", ", Enumerable.Range(0, steps.Length).Where(t => !tasks[t].IsCompleted)
                    .Select(t => $"thread {t} in phase {Volatile.Read(ref phase[t])} of {phases}"));
                Assert.Fail($"Deadlock: {stuck} still running after {HangTimeout.TotalSeconds} s (in a step, or at the barrier waiting for one that is).");
            }
        }

        /// <summary>Disposes every address space and the machine, and asserts that every page came back to the arena.</summary>
        public void TearDownAndAssertNoLeak()
        {
            foreach (AddressSpace mm in _spaces)
                mm.Dispose();
            Assert.Equal(0, Machine.AddressSpaceCount);
            _testMachine.TearDownAndAssertNoLeak();
        }

        public void Dispose()
        {
            if (_hung)
                return;
            foreach (AddressSpace mm in _spaces)
                mm.Dispose();
            _testMachine.Dispose();
        }
    }

    /// <summary>
    /// Every page of [<paramref name="start"/>, + <paramref name="pages"/> pages) of
    /// <paramref name="mm"/> reads <paramref name="expected"/>(page), or anything where that is -1.
    /// </summary>
    private static void AssertContents(string who, AddressSpace mm, ulong start, int pages, Func<int, int> expected)
    {
        var wrong = new List<string>();
        for (int page = 0; page < pages; page++)
        {
            int want = expected(page);
            if (want < 0)
                continue;
            byte got = mm.Read(Byte(page, start));
            if (got != want)
                wrong.Add($"page {page} reads {got}, expected {want}");
        }

        Assert.True(wrong.Count == 0, $"{who}: {wrong.Count} pages wrong: {string.Join("; ", wrong.Take(10))}");
    }

    /// <summary>Splits the machine made and splits that failed (a reference or a mapping appeared: the folio was put back), all sizes.</summary>
    private static string Splits(Machine machine) =>
        $"{machine.MthpStats.NonZero().Where(s => s.Item == MthpStatItem.Split).Sum(s => s.Value)} splits, "
        + $"{machine.MthpStats.NonZero().Where(s => s.Item == MthpStatItem.SplitFailed).Sum(s => s.Value)} failed";

    private static int[] Shuffled(IEnumerable<int> pages, Random random)
    {
        int[] order = pages.ToArray();
        random.Shuffle(order);
        return order;
    }

    // ------------------------------------------------------------------ (1) copy-on-write from both sides

    /// <summary>
    /// After a fork, the parent and the child store into the shared range at once, each faulting
    /// copy-on-write (from written pages, zero pages, 64 KiB and 16 KiB mTHPs and a PMD THP) while a
    /// third thread forks either of them again, checks and stores into the grandchild and exits it.
    /// Pages are split by residue mod 3: 0 stored before the fork, 1 by the parent only, 2 by the
    /// child only, so each side must read exactly its own stores and the pre-fork ones.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Parent_and_child_copy_on_write_at_once_while_a_third_thread_forks_and_exits(int seed)
    {
        const int Rounds = 12;
        const int StoresPerPhase = 8;
        const int Phases = (Pages * 2 / 3 / StoresPerPhase) + 1;
        using var lab = new Lab(256 * MiB);
        lab.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        lab.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        AddressSpace parent = lab.Spawn();
        int forks = 0;

        // Stores to every page of the writer's residues, in random order, a few a phase, each
        // followed by a load that must see exactly what this process's history put there.
        static Action<Random> Storer(AddressSpace mm, int own, int unseen, int seed)
        {
            int[] pages = Shuffled(Enumerable.Range(0, Pages).Where(p => p % 3 != unseen), new Random(seed));
            var stored = new bool[Pages];
            int next = 0;
            return random =>
            {
                for (int i = 0; i < StoresPerPhase && next < pages.Length; i++, next++)
                {
                    int page = pages[next];
                    mm.Write(Byte(page), 1);
                    stored[page] = true;
                    int probe = random.Next(Pages);
                    int want = probe % 3 == 0 || (probe % 3 == own && stored[probe]) ? 1 : 0;
                    Assert.Equal(want, mm.Read(Byte(probe)));
                }
            };
        }

        for (int round = 0; round < Rounds; round++)
        {
            // A fresh mapping (MAP_FIXED over the last round's): mTHPs in the first PMD range, a
            // PMD THP in the second; residue 0 stored, some of residue 1 read (the zero pages).
            parent.Mmap(Base, Region);
            parent.Madvise(Base + Pmd, Pmd, MadviseAdvice.HugePage);
            for (int page = 0; page < Pages; page++)
            {
                if (page % 3 == 0)
                    parent.Write(Byte(page), 1);
                else if (page % 3 == 1 && page % 2 == 0)
                    Assert.Equal(0, parent.Read(Byte(page)));
            }

            AddressSpace child = lab.Track(parent.Fork());
            await lab.Race(
                (seed * 100) + round,
                Phases,
                Storer(parent, own: 1, unseen: 2, seed + round),
                Storer(child, own: 2, unseen: 1, seed + round + 50),
                random =>
                {
                    bool fromParent = random.Next(2) == 0;
                    using AddressSpace grandchild = (fromParent ? parent : child).Fork();
                    forks++;
                    int unseen = fromParent ? 2 : 1;
                    var written = new HashSet<int>();
                    for (int i = 0; i < 4; i++)
                    {
                        int page = random.Next(Pages);
                        if (page % 3 == 0 || written.Contains(page))
                            Assert.Equal(1, grandchild.Read(Byte(page)));
                        else if (page % 3 == unseen)
                            Assert.Equal(0, grandchild.Read(Byte(page)));
                        grandchild.Write(Byte(page), 1);
                        written.Add(page);
                        Assert.Equal(1, grandchild.Read(Byte(page)));
                    }
                });

            lab.Machine.Validate();
            AssertContents("parent", parent, Base, Pages, page => page % 3 == 2 ? 0 : 1);
            AssertContents("child", child, Base, Pages, page => page % 3 == 1 ? 0 : 1);
            child.Dispose();
            lab.Machine.Validate();
        }

        output.WriteLine($"{Rounds} rounds of {Phases} phases, {forks} grandchildren forked and exited");
        lab.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ (2) mprotect

    /// <summary>
    /// Loads and stores in a parent race two threads changing the protection of most of its range
    /// (ReadWrite, Read, None; whole PMD ranges and arbitrary page ranges, so PMD leaves are split
    /// at new VMA boundaries and VMAs split and merge; and now and then forks a grandchild that makes
    /// its copy writable and stores into it), while its child, which shares every folio, faults
    /// copy-on-write. Only a fault in the changing part of the parent may fail, and only
    /// with a segmentation fault at its own address; every load sees exactly its own process's stores.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Faults_racing_mprotect_fail_only_with_segv_where_the_protection_changes(int seed)
    {
        const int Changing = 768;   // pages [0, 768) change protection; the rest stays read-write
        const int Phases = 3000;
        using var lab = new Lab(256 * MiB);
        lab.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        lab.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        AddressSpace parent = lab.Spawn();
        parent.Mmap(Base, Region);
        parent.Madvise(Base + Pmd, Pmd, MadviseAdvice.HugePage);
        var parentStored = new byte[Pages];
        for (int page = 0; page < Pages; page += 2)
        {
            parent.Write(Byte(page), 1);
            parentStored[page] = 1;
        }

        AddressSpace child = lab.Track(parent.Fork());
        byte[] childStored = (byte[])parentStored.Clone();
        int segvs = 0;

        Action<Random> Faulting(AddressSpace mm, byte[] stored, bool mayFail) => random =>
        {
            for (int i = 0; i < 4; i++)
            {
                int page = random.Next(Pages);
                ulong address = Byte(page);
                try
                {
                    if (random.Next(3) != 0)
                    {
                        mm.Write(address, 1);
                        stored[page] = 1;
                    }
                    else
                    {
                        Assert.Equal(stored[page], mm.Read(address));
                    }
                }
                catch (SegmentationFaultException fault) when (mayFail && page < Changing)
                {
                    Assert.Equal(address, fault.Address);
                    Interlocked.Increment(ref segvs);
                }
            }
        };

        static MemoryProtection AnyProtection(Random random) =>
            random.Next(3) switch { 0 => MemoryProtection.None, 1 => MemoryProtection.Read, _ => MemoryProtection.ReadWrite };

        await lab.Race(
            seed,
            Phases,
            Faulting(parent, parentStored, mayFail: true),
            Faulting(child, childStored, mayFail: false),
            random =>
            {
                // Whole PMD ranges, or the part of one inside the changing range.
                int first = random.Next(2) * 512;
                int count = Math.Min(512, Changing - first);
                parent.Mprotect(At(first), (ulong)count * Page, AnyProtection(random));
            },
            random =>
            {
                switch (random.Next(8))
                {
                    case 0:
                        parent.Mprotect(Base, Changing * Page, MemoryProtection.ReadWrite);
                        return;
                    case 1:
                        // A fork copies whatever protection each part has now (PROT_NONE entries
                        // too); the grandchild makes it all writable and stores, copy-on-write.
                        using (AddressSpace grandchild = parent.Fork())
                        {
                            grandchild.Write(Byte(Changing + random.Next(Pages - Changing)), 1);
                            grandchild.Mprotect(Base, Region, MemoryProtection.ReadWrite);
                            int page = random.Next(Changing);
                            grandchild.Write(Byte(page), 1);
                            Assert.Equal(1, grandchild.Read(Byte(page)));
                        }

                        return;
                }

                int first = random.Next(Changing);
                int count = Math.Min(random.Next(1, 48), Changing - first);
                parent.Mprotect(At(first), (ulong)count * Page, AnyProtection(random));
            });

        output.WriteLine($"{Phases} phases, {segvs} segmentation faults in the parent");
        lab.Machine.Validate();
        parent.Mprotect(Base, Region, MemoryProtection.ReadWrite);
        lab.Machine.Validate();
        AssertContents("parent", parent, Base, Pages, page => parentStored[page]);
        AssertContents("child", child, Base, Pages, page => childStored[page]);
        lab.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ (3) mremap

    /// <summary>
    /// A parent's range moves again and again between three addresses (1 GiB aligned, 2 MiB aligned,
    /// and 20 KiB past a 2 MiB boundary, so its mTHPs straddle PTE tables and its PMD THP is split)
    /// while a thread of the parent loads and stores through whichever address it last saw (or any
    /// of the three), and its child, sharing the folios, faults copy-on-write, marks ranges MADV_FREE
    /// and runs the deferred-split shrinker over folios partially mapped before the fork (and now
    /// and then forks the parent and moves the grandchild's copy elsewhere). A fault
    /// in the parent may fail only with a segmentation fault at its own address; none in the child may.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Faults_racing_mremap_moves_see_the_range_where_it_is(int seed)
    {
        const int Phases = 8000;
        ulong[] bases = [Base, Base + (64 * (ulong)MiB) + 0x5000, Base + (128 * (ulong)MiB)];
        using var lab = new Lab(256 * MiB);
        lab.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        lab.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        AddressSpace parent = lab.Spawn();
        parent.Mmap(Base, Region);
        parent.Madvise(Base + Pmd, Pmd, MadviseAdvice.HugePage);
        var parentStored = new byte[Pages];
        for (int page = 0; page < Pages; page += 3)
        {
            parent.Write(Byte(page), 1);
            parentStored[page] = 1;
        }

        // Pages 4-7 of every other 64 KiB folio, and 64 pages of the PMD THP, zapped: partially
        // mapped folios on the deferred-split queue, which the fork then shares.
        for (int folio = 0; folio < 32; folio += 2)
        {
            parent.Madvise(At((folio * 16) + 4), 4 * Page, MadviseAdvice.DontNeed);
            Array.Clear(parentStored, (folio * 16) + 4, 4);
        }

        parent.Madvise(At(600), 64 * Page, MadviseAdvice.DontNeed);
        Array.Clear(parentStored, 600, 64);
        AddressSpace child = lab.Track(parent.Fork());
        byte[] childStored = (byte[])parentStored.Clone();
        int where = 0;
        int moves = 0;
        int segvs = 0;

        await lab.Race(
            seed,
            Phases,
            random =>
            {
                for (int i = 0; i < 4; i++)
                {
                    int page = random.Next(Pages);
                    ulong start = random.Next(4) == 0 ? bases[random.Next(bases.Length)] : bases[Volatile.Read(ref where)];
                    ulong address = Byte(page, start);
                    try
                    {
                        if (random.Next(3) != 0)
                        {
                            parent.Write(address, 1);
                            parentStored[page] = 1;
                        }
                        else
                        {
                            Assert.Equal(parentStored[page], parent.Read(address));
                        }
                    }
                    catch (SegmentationFaultException fault)
                    {
                        Assert.Equal(address, fault.Address);
                        segvs++;
                    }
                }
            },
            random =>
            {
                for (int i = 0; i < 4; i++)
                {
                    int page = random.Next(Pages);
                    if (random.Next(3) != 0)
                    {
                        child.Write(Byte(page), 1);
                        childStored[page] = 1;
                    }
                    else
                    {
                        Assert.Equal(childStored[page], child.Read(Byte(page)));
                    }
                }
            },
            random =>
            {
                int from = Volatile.Read(ref where);
                int to = (from + 1 + random.Next(bases.Length - 1)) % bases.Length;
                Assert.Equal(bases[to], parent.Mremap(bases[from], Region, Region, bases[to]));
                Volatile.Write(ref where, to);
                moves++;
            },
            random =>
            {
                lab.Machine.ShrinkDeferredSplit(random.Next(1, 8));
                int first = random.Next(Pages);
                int count = Math.Min(random.Next(1, 40), Pages - first);
                child.Madvise(At(first), (ulong)count * Page, MadviseAdvice.Free);
                if (random.Next(16) != 0)
                    return;

                // A grandchild of the parent, wherever the range is as it forks, moves its copy
                // elsewhere too (three processes map the folios at three addresses) and stores.
                using AddressSpace grandchild = parent.Fork();
                ulong at = grandchild.Vmas.ToArray()[0].Start;
                ulong away = bases.First(b => b != at);
                Assert.Equal(away, grandchild.Mremap(at, Region, Region, away));
                int page = random.Next(Pages);
                grandchild.Write(Byte(page, away), 1);
                Assert.Equal(1, grandchild.Read(Byte(page, away)));
            });

        output.WriteLine($"{moves} moves, {segvs} segmentation faults in the parent, {Splits(lab.Machine)}");
        lab.Machine.Validate();
        ulong final = bases[where];
        foreach (ulong other in bases.Where(b => b != final))
            Assert.False(parent.Vmas.TryFind(other, out _), $"0x{other:x} is still mapped after the range moved to 0x{final:x}");
        AssertContents("parent", parent, final, Pages, page => parentStored[page]);
        AssertContents("child", child, Base, Pages, page => childStored[page]);
        lab.Machine.ShrinkDeferredSplit();
        lab.Machine.Validate();
        lab.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ (4) fork and exit in a loop

    /// <summary>
    /// A parent faults while one thread forks it (and every fourth time its latest child) again and
    /// again, another exits the children and runs the deferred-split shrinker over folios they
    /// share, and a third stores into and loads from the latest child, which may exit under it
    /// (then, and only then, an <see cref="ObjectDisposedException"/>). The parent never sees a
    /// child's store (pages 3 mod 4, which only children write), and every child sees what the
    /// parent stored before the race. With <paramref name="splitUnderused"/> the shrinker also
    /// splits the PMD THP, which the parent maps by its PMD while children that stored into it map
    /// it by PTEs, all but the copied pages (the split freezes the last PMD with pages still mapped: scenario 48).
    /// </summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    public async Task Faults_racing_fork_and_exit_in_a_loop_keep_every_process_apart(int seed, bool splitUnderused)
    {
        const int Forks = 1200;
        using var lab = new Lab(512 * MiB);
        lab.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        lab.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
        if (splitUnderused)
            lab.Policy.MaxPtesNone = 256;   // the PMD THP, a quarter written, is underused: the shrinker splits it too
        AddressSpace parent = lab.Spawn();
        parent.Mmap(Base, Region);
        parent.Madvise(Base + Pmd, Pmd, MadviseAdvice.HugePage);
        var parentStored = new byte[Pages];
        for (int page = 0; page < Pages; page += 4)
        {
            parent.Write(Byte(page), 1);
            parentStored[page] = 1;
        }

        // Pages 1-2 of every other 64 KiB folio zapped (never stored): partially mapped folios.
        for (int folio = 0; folio < 32; folio += 2)
            parent.Madvise(At((folio * 16) + 1), 2 * Page, MadviseAdvice.DontNeed);

        var exiting = new ConcurrentQueue<AddressSpace>();
        AddressSpace? latest = null;
        int forks = 0;
        int forksRefused = 0;
        int exits = 0;
        int childGone = 0;

        await lab.Race(
            seed,
            Forks,
            random =>
            {
                for (int i = 0; i < 8; i++)
                {
                    int page = (random.Next(Pages / 4) * 4) + random.Next(3);   // never 3 mod 4
                    if (random.Next(3) != 0)
                    {
                        parent.Write(Byte(page), 1);
                        parentStored[page] = 1;
                    }
                    else
                    {
                        Assert.Equal(parentStored[page], parent.Read(Byte(page)));
                    }
                }
            },
            random =>
            {
                AddressSpace from = random.Next(4) == 0 ? Volatile.Read(ref latest) ?? parent : parent;
                try
                {
                    AddressSpace child = lab.Track(from.Fork());
                    forks++;
                    exiting.Enqueue(child);
                    Volatile.Write(ref latest, child);
                }
                catch (ObjectDisposedException) when (from != parent)
                {
                    forksRefused++;   // the child it forks from exited first
                }
            },
            random =>
            {
                // Mostly the oldest child; now and then the latest, under the threads using it.
                if (random.Next(4) == 0 && Volatile.Read(ref latest) is { IsExited: false } youngest)
                {
                    youngest.Dispose();
                    exits++;
                }
                else if (exiting.Count > 2 && exiting.TryDequeue(out AddressSpace? child))
                {
                    if (!child.IsExited)
                        exits++;
                    child.Dispose();
                }

                if (random.Next(4) == 0)
                    lab.Machine.ShrinkDeferredSplit(random.Next(1, 4));
            },
            random =>
            {
                AddressSpace? child = Volatile.Read(ref latest);
                if (child == null)
                    return;
                try
                {
                    int page = (random.Next(Pages / 4) * 4) + 3;
                    child.Write(Byte(page), 1);
                    Assert.Equal(1, child.Read(Byte(page)));
                    Assert.Equal(1, child.Read(Byte(random.Next(Pages / 4) * 4)));
                }
                catch (ObjectDisposedException)
                {
                    childGone++;   // it exited under the store or the load
                }
            });

        output.WriteLine($"{forks} forks ({forksRefused} refused: the child had exited), {exits} exits during the race, {childGone} accesses found the child gone, {Splits(lab.Machine)}");
        Assert.Equal(Forks, forks + forksRefused);
        lab.Machine.Validate();
        while (exiting.TryDequeue(out AddressSpace? child))
            child.Dispose();
        lab.Machine.Validate();
        Assert.Equal(1, lab.Machine.AddressSpaceCount);
        AssertContents("parent", parent, Base, Pages, page => page % 4 == 3 ? 0 : parentStored[page]);
        lab.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ (5) shared, partially mapped folios

    /// <summary>
    /// Three processes (a parent and two children) share 64 KiB folios, some partially mapped in
    /// every process (pages zapped before the fork, and in each after it) and some mapped whole in
    /// two and in part in the third. Faults in all three race the deferred-split shrinker (which
    /// splits shared folios in every process at once), more zaps that partially map folios,
    /// MADV_COLLAPSE of whole 2 MiB blocks (which may fail with EAGAIN, EINVAL or ENOMEM),
    /// MADV_FREE of arbitrary ranges, and short-lived grandchildren that collapse their copy. Outside the pages zapped during the race, each process reads
    /// exactly its own history's stores.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Faults_in_three_processes_racing_the_shrinker_collapse_and_madv_free(int seed)
    {
        const int Phases = 2000;
        using var lab = new Lab(512 * MiB);
        lab.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
        lab.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);

        // Pages 0-3 of every even 64 KiB folio are zapped now and again; nothing is checked there.
        static bool Zapped(int page) => (page / 16) % 2 == 0 && page % 16 < 4;

        AddressSpace parent = lab.Spawn();
        parent.Mmap(Base, Region);
        var stored = new byte[Pages];
        for (int page = 0; page < Pages; page++)
        {
            if (page % 5 != 4)
            {
                parent.Write(Byte(page), 1);
                stored[page] = 1;
            }
        }

        // Before the fork: pages 0-1 of the even folios (the children never map them).
        for (int folio = 0; folio < Pages / 16; folio += 2)
            parent.Madvise(At(folio * 16), 2 * Page, MadviseAdvice.DontNeed);
        AddressSpace[] processes = [parent, lab.Track(parent.Fork()), lab.Track(parent.Fork())];

        // After it: pages 2-3 of the even folios in every process (mapped by nobody), and in the
        // first child pages 8-11 of every eighth odd folio (still mapped by the others).
        foreach (AddressSpace mm in processes)
        {
            for (int folio = 0; folio < Pages / 16; folio += 2)
                mm.Madvise(At((folio * 16) + 2), 2 * Page, MadviseAdvice.DontNeed);
        }

        byte[][] expected = [(byte[])stored.Clone(), (byte[])stored.Clone(), (byte[])stored.Clone()];
        for (int folio = 1; folio < Pages / 16; folio += 8)
        {
            processes[1].Madvise(At((folio * 16) + 8), 4 * Page, MadviseAdvice.DontNeed);
            Array.Clear(expected[1], (folio * 16) + 8, 4);
        }

        lab.Machine.Validate();
        Assert.True(lab.Machine.DeferredSplitQueue.Length > 0);

        Action<Random> Faulting(params int[] which) => random =>
        {
            for (int i = 0; i < 4; i++)
            {
                int p = which[random.Next(which.Length)];
                AddressSpace mm = processes[p];
                int page = random.Next(Pages);
                if (random.Next(3) != 0)
                {
                    mm.Write(Byte(page), 1);
                    expected[p][page] = 1;
                }
                else
                {
                    byte got = mm.Read(Byte(page));
                    if (!Zapped(page))
                        Assert.Equal(expected[p][page], got);
                }
            }
        };

        var errnos = new ConcurrentDictionary<Errno, int>();
        int collapsed = 0;
        long split = 0;
        await lab.Race(
            seed,
            Phases,
            Faulting(0),
            Faulting(1, 2),
            random =>
            {
                split += lab.Machine.ShrinkDeferredSplit(random.Next(1, 8));
                int folio = random.Next(Pages / 32) * 2;
                int first = random.Next(4);
                int count = random.Next(1, 5 - first);
                processes[random.Next(3)].Madvise(At((folio * 16) + first), (ulong)count * Page, MadviseAdvice.DontNeed);
            },
            random =>
            {
                AddressSpace mm = processes[random.Next(3)];
                if (random.Next(4) == 0)
                {
                    try
                    {
                        mm.Madvise(Base + ((ulong)random.Next(2) * Pmd), Pmd, MadviseAdvice.Collapse);
                        collapsed++;
                    }
                    catch (SyscallException refused)
                    {
                        errnos.AddOrUpdate(refused.Errno, 1, (_, n) => n + 1);
                    }

                    return;
                }

                if (random.Next(16) == 0)
                {
                    // A short-lived fourth process: it shares everything, collapses a block of its
                    // own copy (copying shared pages) and stores.
                    using AddressSpace grandchild = mm.Fork();
                    try
                    {
                        grandchild.Madvise(Base + ((ulong)random.Next(2) * Pmd), Pmd, MadviseAdvice.Collapse);
                    }
                    catch (SyscallException refused)
                    {
                        errnos.AddOrUpdate(refused.Errno, 1, (_, n) => n + 1);
                    }

                    grandchild.Write(Byte(random.Next(Pages)), 1);
                    return;
                }

                int first = random.Next(Pages);
                int count = Math.Min(random.Next(1, 64), Pages - first);
                mm.Madvise(At(first), (ulong)count * Page, MadviseAdvice.Free);
            });

        output.WriteLine($"{Splits(lab.Machine)}, {split} by the shrinker, {collapsed} blocks collapsed, refused: {string.Join(", ", errnos.Select(e => $"{e.Key} {e.Value}"))}");
        lab.Machine.Validate();
        lab.Machine.ShrinkDeferredSplit();
        lab.Machine.Validate();
        Assert.Equal(0, lab.Machine.MthpStats.NonZero().Where(s => s.Item == MthpStatItem.NrAnonPartiallyMapped).Sum(s => s.Value));
        for (int p = 0; p < processes.Length; p++)
        {
            byte[] mine = expected[p];
            AssertContents($"process {p}", processes[p], Base, Pages, page => Zapped(page) ? -1 : mine[page]);
        }

        lab.TearDownAndAssertNoLeak();
    }

    // ------------------------------------------------------------------ the model bug (4) found

    /// <summary>The skip reason of the tests that meet the frozen-PMD bug (reduced in <see cref="Splitting_a_THP_whose_last_PMD_leaves_it_partly_mapped_counts_it_deferred"/>).</summary>
    /// <summary>
    /// The reduction of what <see cref="Faults_racing_fork_and_exit_in_a_loop_keep_every_process_apart"/>
    /// found when the shrinker split an underused THP: no threads needed. A PMD THP is shared by
    /// fork; the child zaps all of it but page 7 (its PMD is split; the parent's PMD still maps every
    /// page, so nothing is partially mapped yet); then the THP is split (debugfs here, the
    /// underused shrinker there: both are <c>__folio_split</c>). <c>unmap_folio</c> freezes the
    /// parent's PMD first: Linux's <c>__split_huge_pmd_locked(freeze)</c> calls
    /// <c>folio_remove_rmap_pmd</c>, whose <c>__folio_remove_rmap</c> finds the last PMD gone with
    /// 511 pages unmapped and one mapped (<c>partially_mapped = nr &amp;&amp; nr &lt; nr_pmdmapped</c>)
    /// and calls <c>deferred_split_folio(folio, true)</c>: <c>split_deferred</c> and
    /// <c>thp_deferred_split_page</c> count 1 (the freeze then unqueues it, so
    /// <c>nr_anon_partially_mapped</c> ends at 0). Scenario 48 is the same case through the shrinker,
    /// checked against the running kernel.
    /// </summary>
    [Fact]
    public void Splitting_a_THP_whose_last_PMD_leaves_it_partly_mapped_counts_it_deferred()
    {
        const int PmdOrder = 9;
        using var lab = new Lab(64 * MiB);
        AddressSpace parent = lab.Spawn();
        parent.Mmap(Base, Pmd);
        parent.Madvise(Base, Pmd, MadviseAdvice.HugePage);
        parent.Write(Byte(0), 1);
        AddressSpace child = lab.Track(parent.Fork());
        child.Madvise(Base, 7 * Page, MadviseAdvice.DontNeed);
        child.Madvise(At(8), Pmd - (8 * Page), MadviseAdvice.DontNeed);
        Assert.Equal(0, lab.Machine.MthpStats.Get(PmdOrder, MthpStatItem.SplitDeferred));

        Assert.Equal(1, parent.SplitFolios(Base, Pmd, 0));

        Assert.Equal(1, lab.Machine.MthpStats.Get(PmdOrder, MthpStatItem.SplitDeferred));
        Assert.Equal(1, lab.Machine.Events.Get(VmEvent.ThpDeferredSplitPage));
        Assert.Equal(0, lab.Machine.MthpStats.Get(PmdOrder, MthpStatItem.NrAnonPartiallyMapped));
        lab.Machine.Validate();
        Assert.Equal(1, parent.Read(Byte(0)));
        Assert.Equal(0, child.Read(Byte(7)));
        lab.TearDownAndAssertNoLeak();
    }
}
