using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading;
using Xunit;
using static LargeFolios.PageTables.Tests.VmaTestHelpers;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// Faults' view of the set while it changes: reader threads look addresses up under the read lock, as a
/// fault does across its walk, while a writer maps, unmaps and madvises. A reader must only ever see a
/// whole, valid set, stable for as long as it holds the lock; changes a writer groups under one write
/// hold must look atomic.
/// </summary>
public class VmaSetConcurrencyTests
{
    private const int Pages = 256;
    private const ulong Base = 0x1000_0000;
    private const ulong Canary = 0x2000_0000;
    private const ulong CanaryLength = 4 * Page;

    [Theory]
    [InlineData(3, 3000)]
    public void Readers_see_a_valid_stable_set_while_a_writer_changes_it(int readers, int writes)
    {
        using var set = new VmaSet();
        set.Map(Canary, CanaryLength, RwHuge);
        var failures = new ConcurrentQueue<Exception>();
        int done = 0;
        long reads = 0;
        using var start = new Barrier(readers + 1);

        var readerThreads = Enumerable.Range(1, readers).Select(id => new Thread(() =>
        {
            try
            {
                var random = new Random(id * 7919);
                start.SignalAndWait();
                for (long iteration = 0; Volatile.Read(ref done) == 0 || iteration < 100; iteration++)
                {
                    ulong address = Base + (ulong)random.Next(Pages + 8) * Page + (ulong)random.Next(4096);
                    using (set.Lock.Read())
                    {
                        bool found = set.TryFind(address, out Vma vma);
                        if (found && !vma.Contains(address))
                            throw new InvalidOperationException($"TryFind(0x{address:x}) returned {vma}");
                        if (set.TryFindFirstAtOrAbove(address, out Vma above) && above.End <= address)
                            throw new InvalidOperationException($"TryFindFirstAtOrAbove(0x{address:x}) returned {above}");

                        // Nothing changes while this thread holds the read side.
                        Thread.Yield();
                        if (set.TryFind(address, out Vma again) != found || again != vma)
                            throw new InvalidOperationException($"TryFind(0x{address:x}) changed under the read lock: {vma} then {again}");

                        // The writer replaces the canary only inside one write hold: never seen missing or split.
                        if (!set.TryFind(Canary + Page, out Vma canary) || canary.Start != Canary || canary.Length != CanaryLength)
                            throw new InvalidOperationException($"canary seen as {canary}");

                        if (iteration % 16 == 0)
                        {
                            ulong previousEnd = 0;
                            int count = 0;
                            foreach (Vma each in set)
                            {
                                if (each.Start < previousEnd)
                                    throw new InvalidOperationException($"VMA {each} out of order");
                                previousEnd = each.End;
                                count++;
                            }

                            if (count != set.Count)
                                throw new InvalidOperationException($"enumerated {count} VMAs; Count says {set.Count}");
                            set.Validate();
                        }
                    }

                    Interlocked.Increment(ref reads);
                }
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToList();

        foreach (Thread thread in readerThreads)
            thread.Start();

        var writer = new Random(12345);
        VmaFlags[] flags = [Rw, R, RwHuge, RwNoHuge];
        start.SignalAndWait();
        try
        {
            for (int i = 0; i < writes; i++)
            {
                int page = writer.Next(Pages);
                ulong address = Base + (ulong)page * Page;
                ulong length = (ulong)writer.Next(1, Math.Min(32, Pages - page) + 1) * Page;
                switch (writer.Next(4))
                {
                    case 0:
                    case 1:
                        set.Map(address, length, flags[writer.Next(flags.Length)]);
                        break;
                    case 2:
                        set.Unmap(address, length);
                        break;
                    default:
                        try
                        {
                            set.Madvise(address, length, writer.Next(2) == 0);
                        }
                        catch (BadAddressException)
                        {
                            // Nothing mapped there: Linux's -ENOMEM.
                        }

                        break;
                }

                if (i % 10 == 0)
                {
                    using (set.Lock.Write())
                    {
                        set.Unmap(Canary, CanaryLength);
                        set.Map(Canary, CanaryLength, i % 20 == 0 ? RwNoHuge : RwHuge);
                    }
                }
            }
        }
        finally
        {
            Volatile.Write(ref done, 1);
            foreach (Thread thread in readerThreads)
                thread.Join();
        }

        Assert.True(failures.IsEmpty, string.Join(Environment.NewLine, failures));
        Assert.True(Interlocked.Read(ref reads) >= readers * 100);
        set.Validate();
        Assert.False(set.Lock.IsHeld);
    }
}
