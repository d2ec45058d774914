using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LargeFolios.TestSupport;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>
/// Several threads allocate, free, split and hand folios to each other for freeing. A shared
/// owner table claims every page with a compare-and-swap on allocation, so a page handed out
/// twice is caught the moment it happens; every folio's memory carries its owner's stamp.
/// </summary>
public unsafe class ConcurrencyStressTests
{
    [Theory]
    [InlineData(4, 0)]
    [InlineData(4, 1)]
    [InlineData(3, 2)]
    public void Threads_allocating_freeing_and_splitting_never_share_a_page(int threads, int configuration)
    {
        using var arena = configuration switch
        {
            0 => new Arena(64 * Arenas.MiB),
            1 => new Arena(32 * Arenas.MiB, options: new ArenaOptions { PerCpuSets = 2, PerCpuHigh = 40, PerCpuBatch = 7 }),
            _ => new Arena(16 * Arenas.MiB, options: new ArenaOptions { PerCpuOrders = ArenaOptions.LinuxPerCpuOrders }),
        };
        var owners = new int[arena.TotalPages];
        var handoff = new ConcurrentQueue<Folio>();
        var failures = new ConcurrentQueue<Exception>();
        using var start = new Barrier(threads);

        void Claim(Folio folio, int owner)
        {
            for (uint i = 0; i < folio.PageCount; i++)
            {
                int previous = Interlocked.CompareExchange(ref owners[folio.Pfn + i], owner, 0);
                if (previous != 0)
                    throw new InvalidOperationException($"PFN 0x{folio.Pfn + i:x} handed to {owner} while {previous} owns it");
            }

            *(long*)folio.Address = ((long)owner << 32) | folio.Pfn;
        }

        void Release(Folio folio, int owner)
        {
            long stamp = *(long*)folio.Address;
            if ((uint)stamp != folio.Pfn)
                throw new InvalidOperationException($"folio at PFN 0x{folio.Pfn:x} lost its stamp: 0x{stamp:x}");
            for (uint i = 0; i < folio.PageCount; i++)
                Volatile.Write(ref owners[folio.Pfn + i], 0);
            arena.Free(folio);
        }

        var workers = Enumerable.Range(1, threads).Select(id => new Thread(() =>
        {
            try
            {
                var random = new Random(id * 7919);
                var mine = new List<Folio>();
                start.SignalAndWait();
                for (int step = 0; step < 30000; step++)
                {
                    int action = random.Next(100);
                    if (action < 45 || mine.Count == 0)
                    {
                        int order = random.Next(100) switch { < 60 => 0, < 80 => random.Next(2, 5), < 95 => random.Next(5, 10), _ => 10 };
                        var kind = order != 1 && random.Next(2) == 0 ? FolioKind.Anonymous : FolioKind.Plain;
                        if (arena.TryAllocate(order, kind, out Folio folio))
                        {
                            Claim(folio, id);
                            mine.Add(folio);
                        }
                    }
                    else if (action < 75)
                    {
                        int index = random.Next(mine.Count);
                        Release(mine[index], id);
                        mine.RemoveAt(index);
                    }
                    else if (action < 85)
                    {
                        int index = random.Next(mine.Count);
                        Folio folio = mine[index];
                        mine.RemoveAt(index);
                        for (uint i = 0; i < folio.PageCount; i++)
                            Volatile.Write(ref owners[folio.Pfn + i], 0);
                        handoff.Enqueue(folio);   // freed by whichever thread dequeues it
                    }
                    else if (action < 93)
                    {
                        if (handoff.TryDequeue(out Folio foreign))
                        {
                            Claim(foreign, id);
                            Release(foreign, id);
                        }
                    }
                    else
                    {
                        int index = random.Next(mine.Count);
                        Folio folio = mine[index];
                        if (folio.Order < 2)
                            continue;
                        int newOrder = folio.IsAnonymous && folio.Order > 2 && random.Next(2) == 0 ? random.Next(2, folio.Order) : folio.IsAnonymous ? 0 : random.Next(folio.Order);
                        mine.RemoveAt(index);
                        var parts = random.Next(2) == 0
                            ? arena.SplitUniform(folio, newOrder).ToList()
                            : arena.SplitNonUniform(folio, newOrder, folio.Pfn + (uint)random.Next(folio.PageCount)).ToList();
                        foreach (Folio part in parts)
                        {
                            for (uint i = 0; i < part.PageCount; i++)
                                owners[part.Pfn + i] = 0;
                            Claim(part, id);
                            mine.Add(part);
                        }
                    }
                }

                foreach (Folio folio in mine)
                    Release(folio, id);
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
                start.RemoveParticipant();
            }
        })).ToList();

        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.Empty(failures);

        while (handoff.TryDequeue(out Folio left))
            arena.Free(left);
        ArenaAssert.FullyMerged(arena);
    }

    /// <summary>Two threads free the same folio at once: the refcount freeze lets exactly one through.</summary>
    [Fact]
    public void A_racing_double_free_is_caught_exactly_once()
    {
        using var arena = new Arena(16 * Arenas.MiB);
        for (int round = 0; round < 2000; round++)
        {
            Folio folio = arena.Allocate(round % 4 == 1 ? 0 : round % 4);
            int freed = 0, refused = 0;
            using var start = new Barrier(2);
            void Race()
            {
                start.SignalAndWait();
                try
                {
                    arena.Free(folio);
                    Interlocked.Increment(ref freed);
                }
                catch (BadFolioException e) when (e.Reason is BadFolioReason.AlreadyFree or BadFolioReason.StillReferenced)
                {
                    Interlocked.Increment(ref refused);
                }
            }

            var other = new Thread(Race);
            other.Start();
            Race();
            other.Join();
            Assert.Equal(1, freed);
            Assert.Equal(1, refused);
        }

        ArenaAssert.FullyMerged(arena);
    }

    /// <summary>Get racing the last Put never revives a freed folio.</summary>
    [Fact]
    public void Get_racing_the_last_put_never_resurrects_the_folio()
    {
        using var arena = new Arena(16 * Arenas.MiB);
        for (int round = 0; round < 2000; round++)
        {
            Folio folio = arena.Allocate(2);
            bool got = false, freed = false;
            using var start = new Barrier(2);
            var getter = new Thread(() =>
            {
                start.SignalAndWait();
                try
                {
                    arena.Get(folio);
                    got = true;
                }
                catch (BadFolioException e) when (e.Reason == BadFolioReason.AlreadyFree)
                {
                }
            });
            getter.Start();
            start.SignalAndWait();
            freed = arena.Put(folio);
            getter.Join();

            Assert.True(got != freed, $"round {round}: got {got}, freed {freed}");
            if (got)
                Assert.True(arena.Put(folio));
            arena.Validate();
        }

        ArenaAssert.FullyMerged(arena);
    }
}
