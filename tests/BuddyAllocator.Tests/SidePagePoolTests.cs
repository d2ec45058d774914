using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>
/// The side pages of a metadata-only arena's page tables: 4 KiB blocks carved from 2 MiB chunks,
/// each chunk charged to the bound; freed blocks reused before a new chunk; a refused chunk a null
/// block that leaves the pool as it was; blocks never handed to two threads at once.
/// </summary>
public unsafe class SidePagePoolTests
{
    private const long MiB = 1L << 20;
    private const int BlocksPerChunk = SidePagePool.ChunkBytes / 4096;

    [Fact]
    public void Blocks_are_distinct_page_aligned_4K_pieces_of_2M_chunks_charged_to_the_bound()
    {
        var bound = new HostMemory(64 * MiB);
        using var pool = new SidePagePool(bound);
        var blocks = new List<nint>();
        for (int i = 0; i < BlocksPerChunk + 1; i++)
            blocks.Add((nint)pool.TryRent());

        Assert.All(blocks, b => Assert.Equal(0, b & 4095));
        Assert.Equal(blocks.Count, blocks.Distinct().Count());
        Assert.Equal(blocks[0] + (4096L * (BlocksPerChunk - 1)), blocks[BlocksPerChunk - 1]);
        Assert.Equal(2L * SidePagePool.ChunkBytes, pool.ChunkedBytes);
        Assert.Equal(2L * SidePagePool.ChunkBytes, bound.InUseBytes);
        Assert.Equal(BlocksPerChunk + 1, pool.RentedBlocks);

        // Every byte of every block is ours to write.
        foreach (nint block in blocks)
            new System.Span<byte>((void*)block, 4096).Fill(0xA5);
        foreach (nint block in blocks)
            pool.Return((void*)block);
        Assert.Equal(0, pool.RentedBlocks);

        pool.Dispose();
        Assert.Equal(0, bound.InUseBytes);
    }

    [Fact]
    public void A_returned_block_is_rented_again_before_any_new_chunk()
    {
        var bound = new HostMemory(SidePagePool.ChunkBytes);
        using var pool = new SidePagePool(bound);
        var blocks = Enumerable.Range(0, BlocksPerChunk).Select(_ => (nint)pool.TryRent()).ToList();
        pool.Return((void*)blocks[17]);
        pool.Return((void*)blocks[3]);

        Assert.Equal(blocks[3], (nint)pool.TryRent());
        Assert.Equal(blocks[17], (nint)pool.TryRent());
        Assert.Equal(SidePagePool.ChunkBytes, pool.ChunkedBytes);
    }

    [Fact]
    public void A_chunk_the_bound_refuses_is_a_null_block_and_the_pool_is_as_it_was()
    {
        var bound = new HostMemory(SidePagePool.ChunkBytes);
        using var pool = new SidePagePool(bound);
        var blocks = Enumerable.Range(0, BlocksPerChunk).Select(_ => (nint)pool.TryRent()).ToList();
        Assert.DoesNotContain(0, blocks);

        Assert.True(pool.TryRent() == null);

        Assert.Equal(1, bound.Refusals);
        Assert.Equal("a 2 MiB chunk of page-table side pages", bound.LastRefusal!.What);
        Assert.Equal(BlocksPerChunk, pool.RentedBlocks);
        Assert.Equal(SidePagePool.ChunkBytes, bound.InUseBytes);
        pool.Return((void*)blocks[0]);
        Assert.Equal(blocks[0], (nint)pool.TryRent());
    }

    [Fact]
    public void Threads_renting_and_returning_at_once_never_share_a_block()
    {
        const int Threads = 4;
        const int Held = 300;
        var bound = new HostMemory(64 * MiB);
        using var pool = new SidePagePool(bound);
        int clashes = 0;
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, thread =>
        {
            var mine = new nint[Held];
            for (int round = 0; round < 200; round++)
            {
                for (int i = 0; i < Held; i++)
                {
                    mine[i] = (nint)pool.TryRent();
                    *(long*)(mine[i] + 8) = ((long)thread << 32) | (uint)i;   // past the free-list link
                }

                for (int i = 0; i < Held; i++)
                {
                    if (*(long*)(mine[i] + 8) != (((long)thread << 32) | (uint)i))
                        Interlocked.Increment(ref clashes);
                    pool.Return((void*)mine[i]);
                }
            }
        });

        Assert.Equal(0, clashes);
        Assert.Equal(0, pool.RentedBlocks);
        // At most Threads * Held blocks were out at once: that many chunks, and no more, were mapped.
        Assert.InRange(pool.ChunkedBytes, SidePagePool.ChunkBytes, ((Threads * Held / BlocksPerChunk) + 1) * (long)SidePagePool.ChunkBytes);
    }
}
