using System;
using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// An arena as a <see cref="MemoryPool{T}"/>: each rented buffer is one folio, page aligned and
/// naturally aligned to its size, whose bytes the <see cref="IMemoryOwner{T}"/> lends until it is
/// disposed. What System.IO.Pipelines, Kestrel and parsers take their buffers from.
/// </summary>
/// <remarks>
/// <para>A request of n bytes gets the smallest order whose folio holds n (a whole number of pages,
/// rounded up to a power of two); its <see cref="IMemoryOwner{T}.Memory"/> is the whole folio, as
/// <see cref="MemoryPool{T}.Shared"/> hands out whole arrays. <see cref="MaxBufferSize"/> is the
/// arena's largest block, up to the largest power of two a <see cref="Memory{T}"/> can span.</para>
/// <para>Any thread may rent, and any thread may dispose an owner: its folio goes back to that
/// thread's per-CPU cache, as every <see cref="Arena.Free(Folio)"/> does. An owner never disposed keeps its
/// folio, as a folio never freed does: there is no finalizer, because an arena may be gone by the
/// time one would run. The pool does not own the arena: disposing the pool refuses later rents and
/// leaves the arena, and the buffers still rented, as they are.</para>
/// </remarks>
public sealed class ArenaMemoryPool : MemoryPool<byte>
{
    // A Memory<byte> spans at most int.MaxValue bytes; 2^30 is the largest power of two below it.
    private const int LargestSpanOrder = 30 - PageGeometry.PageShift;

    private readonly int _maxOrder;
    private volatile bool _disposed;

    /// <summary>A pool over <paramref name="arena"/>'s memory; the arena stays the caller's to dispose, after every buffer is returned.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="arena"/> is null.</exception>
    /// <exception cref="ArgumentException">The arena is metadata-only: no memory lies behind its pages.</exception>
    /// <exception cref="ObjectDisposedException">The arena has been disposed.</exception>
    public ArenaMemoryPool(Arena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        ObjectDisposedException.ThrowIf(arena.IsDisposed, arena);
        if (!arena.HasMemory)
            throw new ArgumentException($"Arena {arena.Id} is metadata-only: it has no memory behind its pages to lend; expected an arena created without ArenaOptions.MetadataOnly.", nameof(arena));
        Arena = arena;
        _maxOrder = Math.Min(arena.MaxOrder, LargestSpanOrder);
    }

    /// <summary>The arena the buffers are folios of.</summary>
    public Arena Arena { get; }

    /// <summary>The largest buffer one rent can get: one folio of the arena's largest order (4 MiB by default).</summary>
    public override int MaxBufferSize => PageGeometry.PageSize << _maxOrder;

    /// <summary>The folio order a request of <paramref name="minBufferSize"/> bytes gets: the smallest whose folio holds it; -1 asks for the default, one page.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minBufferSize"/> is below -1 or above <see cref="MaxBufferSize"/>.</exception>
    public int OrderFor(int minBufferSize)
    {
        if (minBufferSize < -1 || minBufferSize > MaxBufferSize)
            throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"A buffer of {minBufferSize} bytes; expected -1 (the default, one page) or 0..{MaxBufferSize} (the arena's order-{_maxOrder} folio).");
        uint pages = (uint)((Math.Max(minBufferSize, 1) + PageGeometry.PageSize - 1) >> PageGeometry.PageShift);
        return pages <= 1 ? 0 : BitOperations.Log2(pages - 1) + 1;
    }

    /// <summary>Rents one folio that holds at least <paramref name="minBufferSize"/> bytes (-1: one page).</summary>
    /// <returns>An owner whose <see cref="IMemoryOwner{T}.Memory"/> is the whole folio; dispose it to give the folio back.</returns>
    /// <exception cref="OutOfMemoryException">The arena has no free block of that order, even after
    /// draining its per-CPU caches; the message names the size and the order.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minBufferSize"/> is below -1 or above <see cref="MaxBufferSize"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool or its arena has been disposed.</exception>
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (TryRent(minBufferSize, out FolioMemoryOwner? owner))
            return owner;
        return ThrowHelper.ThrowRentOutOfMemory(minBufferSize, OrderFor(minBufferSize));
    }

    /// <summary>Rents one folio that holds at least <paramref name="minBufferSize"/> bytes (-1: one page), or reports that none is free.</summary>
    /// <returns>False, with <paramref name="owner"/> null, when the arena has no free block of that order.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minBufferSize"/> is below -1 or above <see cref="MaxBufferSize"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool or its arena has been disposed.</exception>
    public bool TryRent(int minBufferSize, [NotNullWhen(true)] out FolioMemoryOwner? owner)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int order = OrderFor(minBufferSize);
        if (!Arena.TryAllocate(order, out Folio folio))
        {
            owner = null;
            return false;
        }

        owner = new FolioMemoryOwner(Arena, folio);
        return true;
    }

    /// <summary>Refuses later rents; the buffers still rented stay valid until their owners are disposed.</summary>
    protected override void Dispose(bool disposing) => _disposed = true;
}
