using System;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// Regressions for what a review of the fault path found: races between the deferred-split
/// shrinker, splits, faults, stores and exit; and syscall details where the model had left Linux.
/// </summary>
public sealed class ReviewRegressionTests
{
    private const ulong Base = 0x4000_0000;

    /// <summary>
    /// The shrinker's reference, taken under the queue lock, must make a concurrent split's
    /// refcount freeze fail (Linux <c>folio_ref_freeze</c> under <c>split_queue_lock</c>), never be
    /// overwritten by it; otherwise its final put frees a mapped page.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_shrinker_and_a_split_of_the_same_folio_never_lose_a_reference(bool madviseFree)
    {
        using var arena = new Arena(1L << 30, options: new ArenaOptions { MetadataOnly = true });
        using var machine = new Machine(arena);
        machine.Policy.WriteSizeEnabled("512kB", "always");
        using (AddressSpace mm = machine.CreateAddressSpace())
        {
            const int Folios = 32;
            const ulong Size = 512 << 10;
            mm.Mmap(Base, Folios * Size);
            using var barrier = new Barrier(2);
            bool stop = false;
            Exception? shrinkerFailure = null;
            var shrinker = new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        barrier.SignalAndWait();
                        if (Volatile.Read(ref stop))
                            return;
                        machine.ShrinkDeferredSplit();
                        barrier.SignalAndWait();
                    }
                }
                catch (Exception e) when (e is not BarrierPostPhaseException)
                {
                    shrinkerFailure = e;
                    barrier.RemoveParticipant();
                }
            });
            shrinker.Start();
            try
            {
                for (int round = 0; round < 60 && shrinkerFailure == null; round++)
                {
                    mm.Madvise(Base, Folios * Size, MadviseAdvice.DontNeed);
                    for (ulong i = 0; i < Folios; i++)
                    {
                        mm.Write(Base + (i * Size));
                        mm.Madvise(Base + (i * Size) + Size - 4096, 4096, MadviseAdvice.DontNeed);
                    }

                    barrier.SignalAndWait();
                    Thread.SpinWait(round * 37 % 2000);
                    if (madviseFree)
                        mm.Madvise(Base, (Folios * Size) - 8192, MadviseAdvice.Free);
                    else
                        mm.SplitFolios(Base, Folios * Size, 0);
                    barrier.SignalAndWait();
                    machine.Validate();
                }
            }
            finally
            {
                Volatile.Write(ref stop, true);
                if (shrinkerFailure == null)
                    barrier.SignalAndWait();
                shrinker.Join();
            }

            Assert.Null(shrinkerFailure);
            for (ulong i = 0; i < Folios; i++)
                Assert.Equal(1, mm.Read(Base + (i * Size)));
            machine.Validate();
        }

        AssertOnlyZeroPagesLeft(arena, machine);
    }

    /// <summary>A new PMD THP is queued for the underused shrinker before its PMD lock is dropped, so a split racing the fault never finds it half set up.</summary>
    [Fact]
    public void A_split_racing_the_fault_that_maps_a_PMD_THP_finds_it_whole()
    {
        using var arena = new Arena(1L << 30, options: new ArenaOptions { MetadataOnly = true });
        using var machine = new Machine(arena);
        using (AddressSpace mm = machine.CreateAddressSpace())
        {
            const ulong Length = 64UL << 20;
            mm.Mmap(Base, Length);
            mm.Madvise(Base, Length, MadviseAdvice.HugePage);
            long target = -1;
            bool stop = false;
            var splitter = new Thread(() =>
            {
                while (!Volatile.Read(ref stop))
                {
                    long region = Volatile.Read(ref target);
                    if (region >= 0)
                        mm.SplitFolios(Base + ((ulong)region << 21), 4096, 0);
                }
            });
            splitter.Start();
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
                        splitter = new Thread(() =>
                        {
                            while (!Volatile.Read(ref stop))
                            {
                                long region = Volatile.Read(ref target);
                                if (region >= 0)
                                    mm.SplitFolios(Base + ((ulong)region << 21), 4096, 0);
                            }
                        });
                        splitter.Start();
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

        AssertOnlyZeroPagesLeft(arena, machine);
    }

    /// <summary>A store racing the shrinker's split of its folio is never lost: the split either sees the page non-zero or the store lands after the remap.</summary>
    [Fact]
    public void Stores_racing_a_split_are_never_lost()
    {
        using var arena = new Arena(1L << 30, options: new ArenaOptions { MetadataOnly = true });
        using var machine = new Machine(arena);
        machine.Policy.WriteSizeEnabled("512kB", "always");
        using AddressSpace mm = machine.CreateAddressSpace();
        mm.Mmap(Base, 512 << 10);
        for (int round = 0; round < 300; round++)
        {
            mm.Madvise(Base, 512 << 10, MadviseAdvice.DontNeed);
            mm.Write(Base);
            mm.Madvise(Base + (127 << 12), 4096, MadviseAdvice.DontNeed);
            using var barrier = new Barrier(2);
            var writer = new Thread(() =>
            {
                barrier.SignalAndWait();
                for (ulong page = 1; page < 127; page++)
                    mm.Write(Base + (page << 12));
            });
            writer.Start();
            barrier.SignalAndWait();
            Thread.SpinWait(round * 13 % 500);
            machine.ShrinkDeferredSplit();
            writer.Join();
            for (ulong page = 1; page < 127; page++)
                Assert.Equal(1, mm.Read(Base + (page << 12)));
        }

        machine.Validate();
    }

    /// <summary>A call that waited for exit_mmap's lock is refused cleanly and leaks nothing.</summary>
    [Fact]
    public void Exit_racing_stores_refuses_them_and_leaks_nothing()
    {
        for (int round = 0; round < 40; round++)
        {
            using var arena = new Arena(256L << 20, options: new ArenaOptions { MetadataOnly = true });
            using (var machine = new Machine(arena))
            {
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
            }

            AssertFullyMerged(arena);
        }
    }

    [Fact]
    public void A_refused_MAP_FIXED_leaves_the_old_mapping_as_it_was()
    {
        using var arena = new Arena(64L << 20, options: new ArenaOptions { MetadataOnly = false });
        using var machine = new Machine(arena);
        using AddressSpace mm = machine.CreateAddressSpace();
        mm.Mmap(Base, 2 << 20);
        mm.Write(Base, 5);
        string layout = mm.FormatLayout();
        Assert.Throws<ArgumentException>(() => mm.Mmap(Base, 2 << 20, VmaFlags.Read | VmaFlags.Write | VmaFlags.HugePage | VmaFlags.NoHugePage));
        Assert.Equal(5, mm.Read(Base));
        Assert.Equal(layout, mm.FormatLayout());
        machine.Validate();
    }

    /// <summary>madvise, munmap and mmap round a length up to whole pages (PAGE_ALIGN); madvise of length 0 does nothing and succeeds.</summary>
    [Fact]
    public void Lengths_are_rounded_up_to_whole_pages()
    {
        using var arena = new Arena(64L << 20, options: new ArenaOptions { MetadataOnly = true });
        using var machine = new Machine(arena);
        using AddressSpace mm = machine.CreateAddressSpace();
        mm.Mmap(Base, (2 << 20) - 100);
        Assert.Equal(Base + (2 << 20), mm.Vmas.ToArray()[0].End);
        mm.Write(Base);
        mm.Write(Base + 0x1000);
        Assert.True(mm.Madvise(Base, 0, MadviseAdvice.DontNeed));
        Assert.Equal(2, mm.AnonPages);
        Assert.True(mm.Madvise(Base, 100, MadviseAdvice.DontNeed));
        Assert.Equal("0x40001000 1 o0\nend\n", mm.FormatLayout());
        mm.Munmap(Base + 0x1000, 1);
        Assert.Equal("end\n", mm.FormatLayout());
        machine.Validate();
    }

    /// <summary>GUP's check_vma_flags: populating for reading needs VM_READ (no FOLL_FORCE), though a plain read fault of a write-only VMA is allowed.</summary>
    [Fact]
    public void Populate_read_of_a_write_only_VMA_is_refused()
    {
        using var arena = new Arena(64L << 20, options: new ArenaOptions { MetadataOnly = true });
        using var machine = new Machine(arena);
        using AddressSpace mm = machine.CreateAddressSpace();
        mm.Mmap(Base, 2 << 20, VmaFlags.Write);
        Assert.Throws<SegmentationFaultException>(() => mm.Madvise(Base, 16 << 10, MadviseAdvice.PopulateRead));
        Assert.Equal("end\n", mm.FormatLayout());
        Assert.Equal(FaultKind.ZeroPage, mm.HandleFault(Base, FaultAccess.Read).Kind);
        machine.Validate();
    }

    /// <summary>deferred_split_scan counts thp_underused_split_page when it splits a THP because too many of its pages are zero.</summary>
    [Fact]
    public void An_underused_THP_is_split_and_counted()
    {
        using var arena = new Arena(64L << 20, options: new ArenaOptions { MetadataOnly = true });
        using var machine = new Machine(arena);
        machine.Policy.MaxPtesNone = 64;
        using AddressSpace mm = machine.CreateAddressSpace();
        mm.Mmap(Base, 2 << 20);
        mm.Madvise(Base, 2 << 20, MadviseAdvice.HugePage);
        mm.Write(Base + 0x3000);
        Assert.Equal(1, machine.DeferredSplitQueue.Length);
        Assert.Equal(1, machine.ShrinkDeferredSplit());
        Assert.Equal(1, machine.Events.Get(VmEvent.ThpUnderusedSplitPage));
        Assert.Equal(1, machine.Events.Get(VmEvent.ThpSplitPage));
        Assert.Equal("0x40000000 3 zero\n0x40003000 1 o0\n0x40004000 508 zero\nend\n", mm.FormatLayout());
        Assert.Equal(1, mm.AnonPages);
        machine.Validate();
    }

    /// <summary>With every address space gone, the arena holds only the machine's zero pages.</summary>
    private static void AssertOnlyZeroPagesLeft(Arena arena, Machine machine)
    {
        arena.DrainPerCpuCaches();
        long zeroPages = 1 + (machine.HugeZeroFolio is null ? 0 : 1 << PageGeometry.PmdOrder);
        Assert.Equal(arena.TotalPages - zeroPages, arena.FreePages);
        machine.Validate();
    }

    private static void AssertFullyMerged(Arena arena)
    {
        arena.DrainPerCpuCaches();
        Assert.Equal(arena.TotalPages, arena.FreePages);
        arena.Validate();
    }
}
