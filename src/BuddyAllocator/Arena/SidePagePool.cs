using System;
using System.Collections.Generic;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// The 4 KiB blocks that hold the bytes of a metadata-only arena's pages that need some (page
/// tables: a table page's descriptor keeps its block's address), carved from 2 MiB chunks mapped
/// from the host and charged to the arena's <see cref="HostMemory"/>. A block costs the host
/// 4 KiB (a C-heap page-aligned 4 KiB costs 8), and a freed block goes on this pool's free list,
/// so the next table pays no host page fault.
/// </summary>
/// <remarks>
/// Chunks go back to the host only with the arena (<see cref="Dispose"/>): a chunk could be unmapped
/// only once all 512 of its blocks were free, which needs a count per chunk and a free list per
/// chunk on every table free; the tables of an arena are bounded by its pages, and its chunks by the
/// most tables it held at once, which the bound has already allowed. Thread-safe: faults on several
/// threads allocate tables at once. Rent and return hold a lock for a few loads and stores; a
/// new chunk (one rent in 512) is mapped under it, so two threads never both map one.
/// </remarks>
[LayerInterface]
internal sealed unsafe class SidePagePool : IDisposable
{
    /// <summary>The host memory one chunk maps and charges.</summary>
    public const int ChunkBytes = 2 << 20;

    private readonly HostMemory _hostMemory;
    private readonly Lock _lock = new();
    private readonly List<nint> _chunks = [];
    private byte* _free;
    private byte* _next;
    private byte* _end;
    private long _rented;

    public SidePagePool(HostMemory hostMemory)
    {
        _hostMemory = hostMemory;
    }

    /// <summary>Blocks rented and not returned.</summary>
    public long RentedBlocks => Volatile.Read(ref _rented);

    /// <summary>Host memory mapped for blocks, in bytes (whole chunks).</summary>
    public long ChunkedBytes
    {
        get
        {
            lock (_lock)
                return (long)_chunks.Count * ChunkBytes;
        }
    }

    /// <summary>A page-aligned 4 KiB block, its contents whatever they were; null when the host-memory bound refuses a new chunk (or the host, its mapping).</summary>
    public void* TryRent()
    {
        lock (_lock)
        {
            byte* block = _free;
            if (block != null)
            {
                // A free block's first word links the next one.
                _free = *(byte**)block;
            }
            else
            {
                if (_next == _end && !TryMapChunk())
                    return null;
                block = _next;
                _next += PageGeometry.PageSize;
            }

            _rented++;
            return block;
        }
    }

    /// <summary>Takes a block from <see cref="TryRent"/> back.</summary>
    public void Return(void* block)
    {
        lock (_lock)
        {
            *(byte**)block = _free;
            _free = (byte*)block;
            _rented--;
        }
    }

    /// <summary>Unmaps every chunk and uncharges it; every block is gone with it. Idempotent.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (nint chunk in _chunks)
                ArenaMemory.Release((byte*)chunk, ChunkBytes);
            _hostMemory.Uncharge((long)_chunks.Count * ChunkBytes);
            _chunks.Clear();
            _free = _next = _end = null;
            _rented = 0;
        }
    }

    private bool TryMapChunk()
    {
        if (!_hostMemory.TryCharge(ChunkBytes, "a 2 MiB chunk of page-table side pages"))
            return false;

        byte* chunk;
        try
        {
            chunk = ArenaMemory.Reserve(ChunkBytes, (nuint)PageGeometry.PageSize, HostHugePages.Default);
        }
        catch (OutOfMemoryException)
        {
            _hostMemory.Uncharge(ChunkBytes);
            return false;
        }

        _chunks.Add((nint)chunk);
        _next = chunk;
        _end = chunk + ChunkBytes;
        return true;
    }
}
