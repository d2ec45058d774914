using System.Threading;
using Xunit;
using static LargeFolios.PageTables.Tests.VmaTestHelpers;

namespace LargeFolios.PageTables.Tests;

/// <summary>The mmap_lock model: scopes, the held-by-me queries, no recursion, and writers waiting for readers.</summary>
public class AddressSpaceLockTests
{
    [Fact]
    public void Scopes_hold_and_release_each_side()
    {
        using var addressSpaceLock = new AddressSpaceLock();
        Assert.False(addressSpaceLock.IsHeld);
        using (addressSpaceLock.Read())
        {
            Assert.True(addressSpaceLock.IsReadHeld);
            Assert.False(addressSpaceLock.IsWriteHeld);
            Assert.True(addressSpaceLock.IsHeld);
        }

        using (addressSpaceLock.Write())
        {
            Assert.True(addressSpaceLock.IsWriteHeld);
            Assert.False(addressSpaceLock.IsReadHeld);
        }

        addressSpaceLock.EnterRead();
        addressSpaceLock.ExitRead();
        addressSpaceLock.EnterWrite();
        addressSpaceLock.ExitWrite();
        Assert.False(addressSpaceLock.IsHeld);
        default(AddressSpaceReadScope).Dispose();
        default(AddressSpaceWriteScope).Dispose();
    }

    [Fact]
    public void The_lock_is_not_recursive()
    {
        using var addressSpaceLock = new AddressSpaceLock();
        using (addressSpaceLock.Read())
        {
            Assert.Throws<LockRecursionException>(addressSpaceLock.EnterRead);
            Assert.Throws<LockRecursionException>(addressSpaceLock.EnterWrite);
        }

        using (addressSpaceLock.Write())
        {
            Assert.Throws<LockRecursionException>(addressSpaceLock.EnterRead);
            Assert.Throws<LockRecursionException>(addressSpaceLock.EnterWrite);
        }

        Assert.Throws<SynchronizationLockException>(addressSpaceLock.ExitRead);
        Assert.Throws<SynchronizationLockException>(addressSpaceLock.ExitWrite);
    }

    [Fact]
    public void A_mutator_waits_for_a_reader_on_another_thread()
    {
        using var set = With(V(0x10000, 0x12000, Rw));
        var map = new Thread(() => set.Map(0x12000, 0x1000, Rw));
        using (set.Lock.Read())
        {
            map.Start();
            Assert.False(map.Join(200));

            // Still one VMA under this reader's hold: the writer has not run.
            Assert.Equal(1, set.Count);
            Assert.True(set.TryFind(0x11000, out _));
            Assert.False(set.TryFind(0x12000, out _));
        }

        Assert.True(map.Join(10_000));
        AssertVmas(set, V(0x10000, 0x13000, Rw));
    }
    /// <summary>
    /// Readers with a slot of their own and readers past the slots (managed thread ids from 256
    /// on share one counter) all hold the lock at once, each sees its own hold, and a writer gets
    /// in only after every one of them has left; while it holds the lock, no reader gets in.
    /// </summary>
    [Fact]
    public void Readers_with_and_without_slots_exclude_a_writer()
    {
        using var addressSpaceLock = new AddressSpaceLock();
        const int Readers = 300;   // alive together, so their managed ids run past the 256 slots
        using var allIn = new CountdownEvent(Readers);
        using var release = new ManualResetEventSlim();
        int inside = 0;
        int sawOwnHold = 0;
        int maxId = 0;
        var threads = new Thread[Readers];
        for (int i = 0; i < Readers; i++)
        {
            threads[i] = new Thread(() =>
            {
                using (addressSpaceLock.Read())
                {
                    Interlocked.Increment(ref inside);
                    if (addressSpaceLock.IsReadHeld && !addressSpaceLock.IsWriteHeld)
                        Interlocked.Increment(ref sawOwnHold);
                    InterlockedMax(ref maxId, System.Environment.CurrentManagedThreadId);
                    Assert.Throws<LockRecursionException>(addressSpaceLock.EnterRead);
                    allIn.Signal();
                    release.Wait();
                    Interlocked.Decrement(ref inside);
                }
            });
            threads[i].Start();
        }

        allIn.Wait();
        Assert.True(maxId >= 256, $"the readers' ids reached only {maxId}; none used the shared counter");
        Assert.Equal(Readers, sawOwnHold);
        Assert.False(addressSpaceLock.IsReadHeld);

        int insideWhenWriterEntered = -1;
        var writer = new Thread(() =>
        {
            using (addressSpaceLock.Write())
            {
                insideWhenWriterEntered = Volatile.Read(ref inside);

                // While the writer holds it, a new reader must wait.
                bool readerGotIn = false;
                var late = new Thread(() =>
                {
                    using (addressSpaceLock.Read())
                        Volatile.Write(ref readerGotIn, true);
                });
                late.Start();
                Thread.Sleep(50);
                Assert.False(Volatile.Read(ref readerGotIn));
                addressSpaceLock.ExitWrite();
                late.Join();
                Assert.True(readerGotIn);
                addressSpaceLock.EnterWrite();
            }
        });
        writer.Start();
        Thread.Sleep(50);
        Assert.Equal(-1, Volatile.Read(ref insideWhenWriterEntered));
        release.Set();
        foreach (Thread thread in threads)
            thread.Join();
        writer.Join();
        Assert.Equal(0, insideWhenWriterEntered);
        Assert.False(addressSpaceLock.IsHeld);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current = Volatile.Read(ref target);
        while (value > current)
        {
            int seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
                return;
            current = seen;
        }
    }
}
