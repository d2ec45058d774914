using System;
using System.Buffers;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LargeFolios.TestSupport;
using Xunit;
using static LargeFolios.BuddyAllocator.Tests.Arenas;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>The arena as a MemoryPool: sizes to orders, owners that give their folio back once, and the refusals.</summary>
public sealed unsafe class ArenaMemoryPoolTests
{
    [Theory]
    [InlineData(-1, 0)]
    [InlineData(0, 0)]
    [InlineData(1, 0)]
    [InlineData(4096, 0)]
    [InlineData(4097, 1)]
    [InlineData(8192, 1)]
    [InlineData(8193, 2)]
    [InlineData(65536, 4)]
    [InlineData(65537, 5)]
    [InlineData(4 << 20, 10)]
    public void A_rent_gets_the_smallest_folio_that_holds_it_whole_and_aligned(int minBufferSize, int order)
    {
        using var arena = new Arena(16 * MiB);
        using var pool = new ArenaMemoryPool(arena);
        Assert.Equal(order, pool.OrderFor(minBufferSize));

        using IMemoryOwner<byte> owner = pool.Rent(minBufferSize);
        var folioOwner = Assert.IsType<FolioMemoryOwner>(owner);
        Folio folio = folioOwner.Folio;
        Assert.Equal(order, folio.Order);
        Assert.Equal(4096 << order, owner.Memory.Length);
        using (MemoryHandle pinned = owner.Memory.Pin())
        {
            Assert.True(pinned.Pointer == folio.Address);
            Assert.Equal(0UL, (ulong)pinned.Pointer % (4096UL << order));   // naturally aligned, so page aligned
        }

        owner.Memory.Span.Fill(0x5a);
        Assert.True(folio.AsSpan().IndexOfAnyExcept((byte)0x5a) < 0, "the owner's memory is the folio's bytes");
        Assert.Equal(1, folio.Refcount);
    }

    [Fact]
    public void The_largest_buffer_is_the_arenas_largest_folio()
    {
        using var arena = new Arena(16 * MiB);
        using var pool = new ArenaMemoryPool(arena);
        Assert.Equal(4 << 20, pool.MaxBufferSize);
        using var small = new Arena(1 * MiB, maxOrder: 8);
        using var smallPool = new ArenaMemoryPool(small);
        Assert.Equal(1 << 20, smallPool.MaxBufferSize);
        using IMemoryOwner<byte> whole = smallPool.Rent(smallPool.MaxBufferSize);
        Assert.Equal(0, small.FreePages);
    }

    [Theory]
    [InlineData((4 << 20) + 1)]
    [InlineData(int.MaxValue)]
    [InlineData(-2)]
    [InlineData(int.MinValue)]
    public void An_oversize_or_negative_request_names_the_size_and_changes_nothing(int minBufferSize)
    {
        using var arena = BuddyOnly();
        using var pool = new ArenaMemoryPool(arena);
        long free = arena.FreePages;

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(minBufferSize));
        Assert.Equal("minBufferSize", error.ParamName);
        Assert.Contains($"A buffer of {minBufferSize} bytes; expected -1 (the default, one page) or 0..{4 << 20}", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.TryRent(minBufferSize, out _));
        Assert.Equal(free, arena.FreePages);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Out_of_memory_throws_from_Rent_naming_size_and_order_and_is_false_from_TryRent()
    {
        using var arena = BuddyOnly(4 * MiB);
        using var pool = new ArenaMemoryPool(arena);
        var owners = new List<IMemoryOwner<byte>>();
        for (int i = 0; i < 16; i++)
            owners.Add(pool.Rent(256 * 1024));                                       // order 6: the arena's 4 MiB in 16
        Assert.Equal(0, arena.FreePages);

        var error = Assert.Throws<OutOfMemoryException>(() => pool.Rent(5000));
        Assert.Equal("Cannot rent 5000 bytes: the arena has no free order-1 folio (8192 bytes) left, even after draining the per-CPU caches.", error.Message);
        Assert.False(pool.TryRent(1, out FolioMemoryOwner? none));
        Assert.Null(none);
        arena.Validate();

        owners[3].Dispose();
        Assert.True(pool.TryRent(256 * 1024, out FolioMemoryOwner? again));          // the folio given back serves the next rent
        owners[3] = again;
        foreach (IMemoryOwner<byte> owner in owners)
            owner.Dispose();
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Dispose_gives_the_folio_back_once_and_the_memory_is_refused_after()
    {
        using var arena = BuddyOnly();
        using var pool = new ArenaMemoryPool(arena);
        IMemoryOwner<byte> owner = pool.Rent(10_000);
        Memory<byte> before = owner.Memory;
        Folio folio = ((FolioMemoryOwner)owner).Folio;

        owner.Dispose();
        ArenaAssert.FullyMerged(arena);
        Folio other = arena.Allocate(folio.Order);                  // someone else's folio now where the owner's was
        Assert.Equal(folio.Pfn, other.Pfn);

        owner.Dispose();                                            // a second dispose frees nothing
        Assert.Equal(1, other.Refcount);
        arena.Validate();
        Assert.True(((FolioMemoryOwner)owner).IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => owner.Memory);
        Assert.Throws<ObjectDisposedException>(() => before.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => before.Pin());
        Assert.Throws<ObjectDisposedException>(() => ((FolioMemoryOwner)owner).Folio);
        arena.Free(other);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Threads_racing_to_dispose_one_owner_free_its_folio_once()
    {
        using var arena = new Arena(64 * MiB);
        using var pool = new ArenaMemoryPool(arena);
        const int Threads = 4;
        const int Owners = 2000;
        var owners = new IMemoryOwner<byte>[Owners];
        for (int i = 0; i < Owners; i++)
            owners[i] = pool.Rent(4096 << (i % 3));
        using var start = new Barrier(Threads);
        var errors = new ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                foreach (IMemoryOwner<byte> owner in owners)
                    owner.Dispose();
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Empty(errors);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void Buffers_rented_on_some_threads_and_disposed_on_others_all_come_back()
    {
        using var arena = new Arena(64 * MiB);
        using var pool = new ArenaMemoryPool(arena);
        const int Renters = 2;
        const int PerRenter = 3000;
        var handOff = new BlockingCollection<(IMemoryOwner<byte> Owner, byte Tag)>(boundedCapacity: 256);
        var errors = new ConcurrentQueue<Exception>();
        var renters = Enumerable.Range(0, Renters).Select(r => new Thread(() =>
        {
            try
            {
                var random = new Random(r);
                for (int i = 0; i < PerRenter; i++)
                {
                    IMemoryOwner<byte> owner = pool.Rent(random.Next(1, 300_000));
                    byte tag = (byte)(r * 16 + i);
                    owner.Memory.Span.Fill(tag);
                    handOff.Add((owner, tag));
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToList();
        var disposers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            try
            {
                foreach ((IMemoryOwner<byte> owner, byte tag) in handOff.GetConsumingEnumerable())
                {
                    if (owner.Memory.Span.IndexOfAnyExcept(tag) >= 0)
                        throw new InvalidOperationException($"{owner} lost its content: another rent shares its bytes.");
                    owner.Dispose();
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToList();
        disposers.ForEach(t => t.Start());
        renters.ForEach(t => t.Start());
        renters.ForEach(t => t.Join());
        handOff.CompleteAdding();
        disposers.ForEach(t => t.Join());

        Assert.Empty(errors);
        ArenaAssert.FullyMerged(arena);
    }

    [Fact]
    public void A_metadata_only_arena_is_refused_for_having_no_memory()
    {
        using var arena = new Arena(16 * MiB, options: new ArenaOptions { MetadataOnly = true });
        var error = Assert.Throws<ArgumentException>(() => new ArenaMemoryPool(arena));
        Assert.Equal("arena", error.ParamName);
        Assert.Contains($"Arena {arena.Id} is metadata-only", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => new ArenaMemoryPool(null!));
        arena.Dispose();
        using var gone = new Arena(4 * MiB);
        gone.Dispose();
        Assert.Throws<ObjectDisposedException>(() => new ArenaMemoryPool(gone));
    }

    [Fact]
    public void A_disposed_pool_refuses_rents_and_its_buffers_still_come_back()
    {
        using var arena = BuddyOnly();
        var pool = new ArenaMemoryPool(arena);
        IMemoryOwner<byte> owner = pool.Rent(1);
        pool.Dispose();

        Assert.Throws<ObjectDisposedException>(() => pool.Rent(1));
        Assert.Throws<ObjectDisposedException>(() => pool.TryRent(1, out _));
        owner.Memory.Span[4095] = 7;
        owner.Dispose();
        ArenaAssert.FullyMerged(arena);
    }
}
