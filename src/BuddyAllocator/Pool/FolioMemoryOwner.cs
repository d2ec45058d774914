using System;
using System.Buffers;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// One folio's bytes lent as <see cref="Memory{T}"/>: what <see cref="ArenaMemoryPool"/> rents. Disposing it
/// frees the folio, exactly once, whichever thread disposes it and however often.
/// </summary>
/// <remarks>
/// The bytes are native and never move, so pinning costs nothing. After <see cref="IDisposable.Dispose"/>
/// every access (<see cref="MemoryManager{T}.Memory"/>, a <see cref="Memory{T}"/>'s span taken before,
/// <see cref="Pin"/>, <see cref="Folio"/>) throws <see cref="ObjectDisposedException"/>; a span
/// taken before and used after is the caller's bug, as with any pool.
/// </remarks>
public sealed unsafe class FolioMemoryOwner : MemoryManager<byte>
{
    private readonly Arena _arena;
    private readonly Folio _folio;
    private readonly byte* _address;
    private readonly int _length;
    private int _disposed;

    internal FolioMemoryOwner(Arena arena, Folio folio)
    {
        _arena = arena;
        _folio = folio;
        _address = arena.PfnToAddress(folio.Pfn);
        _length = (int)folio.Size;
    }

    /// <summary>The folio behind the buffer (its PFN, order and descriptors).</summary>
    /// <exception cref="ObjectDisposedException">The owner has been disposed: the folio is no longer its.</exception>
    public Folio Folio
    {
        get
        {
            ThrowIfDisposed();
            return _folio;
        }
    }

    /// <summary>True once the folio has been given back.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The whole folio's bytes.</summary>
    /// <exception cref="ObjectDisposedException">The owner has been disposed.</exception>
    public override Span<byte> GetSpan()
    {
        ThrowIfDisposed();
        return new Span<byte>(_address, _length);
    }

    /// <summary>A handle on byte <paramref name="elementIndex"/>; the memory is native, so nothing is pinned and nothing needs unpinning.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementIndex"/> is outside 0..the folio's size.</exception>
    /// <exception cref="ObjectDisposedException">The owner has been disposed.</exception>
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ThrowIfDisposed();
        if ((uint)elementIndex > (uint)_length)
            throw new ArgumentOutOfRangeException(nameof(elementIndex), elementIndex, $"Byte {elementIndex} of {_folio}; expected 0..{_length}.");
        return new MemoryHandle(_address + elementIndex);
    }

    /// <summary>Nothing to do: <see cref="Pin"/> pins nothing.</summary>
    public override void Unpin()
    {
    }

    /// <inheritdoc/>
    public override string ToString() => $"{nameof(FolioMemoryOwner)} of {_folio} ({_length} bytes){(IsDisposed ? ", disposed" : string.Empty)}";

    /// <summary>Frees the folio the first time; later calls, from any thread, do nothing.</summary>
    protected override void Dispose(bool disposing)
    {
        // The exchange is the one decision: two threads disposing at once cannot both free.
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            _arena.Free(_folio);
    }

    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0)
            ThrowDisposed();
    }

    private void ThrowDisposed() => throw new ObjectDisposedException(nameof(FolioMemoryOwner), $"{this}: its folio has been given back to the arena.");
}
