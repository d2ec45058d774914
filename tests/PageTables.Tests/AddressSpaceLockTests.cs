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
}
