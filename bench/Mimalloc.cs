using System;
using System.Runtime.InteropServices;

namespace LargeFolios.Bench;

/// <summary>
/// mimalloc through function pointers into <c>libmimalloc.so.2</c> (Debian: libmimalloc2.0), when
/// it is installed. The calls skip the GC transition: mimalloc neither blocks for long nor calls
/// back, and the transition would add several nanoseconds that a C caller does not pay, flattering
/// every comparison against it.
/// </summary>
internal static unsafe class Mimalloc
{
    private static readonly delegate* unmanaged[SuppressGCTransition]<nuint, nuint, void*> s_mallocAligned;
    private static readonly delegate* unmanaged[SuppressGCTransition]<void*, void> s_free;

    static Mimalloc()
    {
        if (!NativeLibrary.TryLoad("libmimalloc.so.2", out nint library))
            return;
        s_mallocAligned = (delegate* unmanaged[SuppressGCTransition]<nuint, nuint, void*>)NativeLibrary.GetExport(library, "mi_malloc_aligned");
        s_free = (delegate* unmanaged[SuppressGCTransition]<void*, void>)NativeLibrary.GetExport(library, "mi_free");
    }

    public static bool IsAvailable => s_mallocAligned != null;

    public static void* MallocAligned(nuint size, nuint alignment)
    {
        void* block = s_mallocAligned(size, alignment);
        if (block == null)
            throw new InvalidOperationException($"mi_malloc_aligned({size}, {alignment}) returned NULL");
        return block;
    }

    public static void Free(void* block) => s_free(block);
}
