using System;
using System.Threading;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.FaultPath.Tests.Sizes;

namespace LargeFolios.FaultPath.Tests;

/// <summary>
/// The deferred-split shrinker (Linux <c>deferred_split_scan</c>): what it splits and counts, and
/// that racing it (a split of the same folio, stores into the folio it splits) loses neither a
/// reference nor a store.
/// </summary>
public sealed class DeferredSplitShrinkerTests
{
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
        using var testMachine = new TestMachine(1L << 30);
        Machine machine = testMachine.Machine;
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

        testMachine.AssertOnlyZeroPagesLeft();
        testMachine.TearDownAndAssertNoLeak();
    }

    /// <summary>
    /// A store racing the shrinker's split of its folio is never lost: the split either sees the
    /// page non-zero (and keeps it) or the store lands after the zero page was mapped (and copies it).
    /// </summary>
    [Fact]
    public void Stores_racing_the_shrinkers_split_of_their_folio_are_never_lost()
    {
        using var world = new World(1L << 30);
        Machine machine = world.Machine;
        AddressSpace mm = world.Mm;
        machine.Policy.WriteSizeEnabled("512kB", "always");
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

    /// <summary>
    /// A THP with more zero-filled pages than <see cref="ThpPolicy.MaxPtesNone"/> allows is split
    /// by the shrinker, its zero pages remapped to the zero page, and counted as
    /// <c>thp_underused_split_page</c> as well as <c>thp_split_page</c>.
    /// </summary>
    [Fact]
    public void The_shrinker_splits_an_underused_THP_and_counts_it_as_underused()
    {
        using var world = new World();
        Machine machine = world.Machine;
        AddressSpace mm = world.Mm;
        machine.Policy.MaxPtesNone = 64;
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
}
