using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// The 4 KiB blocks that hold page tables' entries in metadata-only arenas (whose pages have no
/// memory), recycled: a freed table's block goes back here rather than to the C heap, which
/// would hand the host its memory back, so the next table does not pay the host's page fault
/// (about 1 µs, a few ns on every fault of a populate). At most 64 MiB is kept.
/// </summary>
internal static unsafe class SidePagePool
{
    private const int MaxKept = 16384;

    private static readonly Lock s_lock = new();
    private static readonly Stack<nint> s_free = new();

    /// <summary>A page-aligned 4 KiB block; its contents are whatever they were.</summary>
    public static void* Rent()
    {
        lock (s_lock)
        {
            if (s_free.TryPop(out nint block))
                return (void*)block;
        }

        return NativeMemory.AlignedAlloc(PageGeometry.PageSize, PageGeometry.PageSize);
    }

    /// <summary>Takes a block back from <see cref="Rent"/>.</summary>
    public static void Return(void* block)
    {
        lock (s_lock)
        {
            if (s_free.Count < MaxKept)
            {
                s_free.Push((nint)block);
                return;
            }
        }

        NativeMemory.AlignedFree(block);
    }
}
