using System;
using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// Throws for the arena's public entry points. Kept out of line so the hot paths hold only a
/// compare and a call that the JIT lays out as cold (dotnet/runtime's ThrowHelper pattern).
/// </summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowObjectDisposed() =>
        throw new ObjectDisposedException(nameof(Arena), "The arena has been disposed; its memory and descriptors are gone.");

    [DoesNotReturn]
    public static void ThrowBadOrder(int order, int maxOrder, FolioKind kind)
    {
        if (kind == FolioKind.Anonymous && order == 1)
            ThrowOrderOneAllocation();
        throw new ArgumentOutOfRangeException(nameof(order), order, $"Order {order} is outside this arena's orders 0..{maxOrder}.");
    }

    [DoesNotReturn]
    public static void ThrowOrderOneAllocation() =>
        throw new OrderOneFolioException(
            "Cannot allocate an anonymous folio of order 1: its deferred-split list would live in page[2], the next folio's head. Anonymous folios are order 0 or 2 and up.",
            -1);

    [DoesNotReturn]
    [SuppressMessage("Usage", "CA2201", Justification = "Allocate's contract: an arena out of blocks is out of memory, as NativeMemory.Alloc reports it.")]
    public static Folio ThrowOutOfMemory(int order) =>
        throw new OutOfMemoryException($"No free block of order {order} ({PageGeometry.PageSize << order} bytes) is left in the arena, even after draining the per-CPU caches.");

    [DoesNotReturn]
    [SuppressMessage("Usage", "CA2201", Justification = "MemoryPool.Rent's contract, as ArrayPool's: no buffer to rent is out of memory.")]
    public static IMemoryOwner<byte> ThrowRentOutOfMemory(int minBufferSize, int order) =>
        throw new OutOfMemoryException($"Cannot rent {minBufferSize} bytes: the arena has no free order-{order} folio ({PageGeometry.PageSize << order} bytes) left, even after draining the per-CPU caches.");

    [DoesNotReturn]
    public static void ThrowPfnOutOfRange(long pfn, long totalPages) =>
        throw new ArgumentOutOfRangeException(nameof(pfn), pfn, $"PFN 0x{pfn:x} is outside this arena's PFNs 0x0..0x{totalPages - 1:x}.");

    [DoesNotReturn]
    public static void ThrowNoMemory() =>
        throw new InvalidOperationException("This arena is metadata-only: it has descriptors but no memory, so no addresses or spans.");

    [DoesNotReturn]
    public static void ThrowBadFolio(string message, BadFolioReason reason, long pfn, int order) =>
        throw new BadFolioException(message, reason, pfn, order);
}
