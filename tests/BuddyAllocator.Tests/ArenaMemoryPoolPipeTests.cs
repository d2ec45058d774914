using System;
using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.TestSupport;
using Xunit;

namespace LargeFolios.BuddyAllocator.Tests;

/// <summary>The pool as System.IO.Pipelines uses it: a writer and a reader on their own threads, the pipe's segments folios of the arena.</summary>
public sealed class ArenaMemoryPoolPipeTests
{
    private const long Total = 12L << 20;

    [Theory]
    [InlineData(4096)]
    [InlineData(65536)]
    public async Task A_pipe_moves_megabytes_through_folios_and_the_arena_is_whole_after(int segmentSize)
    {
        using var arena = new Arena(64L << 20);
        using var pool = new ArenaMemoryPool(arena);
        var pipe = new Pipe(new PipeOptions(pool, PipeScheduler.ThreadPool, PipeScheduler.ThreadPool, minimumSegmentSize: segmentSize, useSynchronizationContext: false));
        int writerThread = 0;
        int readerThread = 0;

        Task<int> writer = Task.Factory.StartNew(() => Write(pipe.Writer, ref writerThread), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Task<long> reader = Task.Factory.StartNew(() => Read(pipe.Reader, ref readerThread), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        int fromPool = await writer;
        long read = await reader;

        Assert.Equal(Total, read);
        Assert.NotEqual(writerThread, readerThread);
        Assert.True(fromPool > 0, "every buffer the writer got should be a folio of the arena");
        ArenaAssert.FullyMerged(arena);
    }

    /// <summary>Byte i of the stream: not periodic in any power of two up to 2^16, so a misplaced segment shows.</summary>
    private static byte Expected(long i) => (byte)((i * 7) ^ (i >> 8) ^ (i >> 16));

    private static int Write(PipeWriter writer, ref int thread)
    {
        thread = Environment.CurrentManagedThreadId;
        var random = new Random(1);
        int fromPool = 0;
        long written = 0;
        while (written < Total)
        {
            Memory<byte> memory = writer.GetMemory(random.Next(1, 20_000));
            if (!MemoryMarshal.TryGetMemoryManager<byte, FolioMemoryOwner>(memory, out _))
                throw new InvalidOperationException($"The pipe handed out memory that is not a folio's, {memory.Length} bytes.");
            fromPool++;
            int n = (int)Math.Min(Math.Min(memory.Length, random.Next(1, 40_000)), Total - written);
            Span<byte> span = memory.Span;
            for (int i = 0; i < n; i++)
                span[i] = Expected(written + i);
            writer.Advance(n);
            written += n;
            FlushResult flush = writer.FlushAsync().AsTask().GetAwaiter().GetResult();
            if (flush.IsCompleted)
                throw new InvalidOperationException("The reader stopped early.");
        }

        writer.Complete();
        return fromPool;
    }

    private static long Read(PipeReader reader, ref int thread)
    {
        thread = Environment.CurrentManagedThreadId;
        long read = 0;
        while (true)
        {
            ReadResult result = reader.ReadAsync().AsTask().GetAwaiter().GetResult();
            ReadOnlySequence<byte> buffer = result.Buffer;
            foreach (ReadOnlyMemory<byte> segment in buffer)
            {
                ReadOnlySpan<byte> span = segment.Span;
                for (int i = 0; i < span.Length; i++)
                {
                    if (span[i] != Expected(read + i))
                        throw new InvalidOperationException($"Byte {read + i} is 0x{span[i]:x2}; expected 0x{Expected(read + i):x2}.");
                }

                read += span.Length;
            }

            reader.AdvanceTo(buffer.End);
            if (result.IsCompleted)
                break;
        }

        reader.Complete();
        return read;
    }
}
