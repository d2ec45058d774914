using System;
using System.ComponentModel;
using System.Runtime.InteropServices;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// Reserves and releases the arena's memory from the host OS. On Linux the arena is one
/// anonymous private mapping, aligned to the largest block, so the host kernel commits pages only
/// when they are touched and can back them with its own huge pages. Elsewhere
/// <see cref="NativeMemory.AlignedAlloc"/> does the job.
/// </summary>
internal static unsafe partial class ArenaMemory
{
    // Linux UAPI values, identical on x86-64 and arm64.
    private const int ProtRead = 0x1;
    private const int ProtWrite = 0x2;
    private const int MapPrivate = 0x02;
    private const int MapAnonymous = 0x20;
    private const int MapNoReserve = 0x4000;
    private const int MadvHugepage = 14;
    private const int MadvNohugepage = 15;

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2201", Justification = "The host refused the arena's memory: that is out of memory.")]
    public static byte* Reserve(nuint bytes, nuint alignment, HostHugePages hugePages)
    {
        if (!OperatingSystem.IsLinux())
            return (byte*)NativeMemory.AlignedAlloc(bytes, alignment);

        // mmap(2) gives page alignment only: map alignment - page extra, then unmap the slack on
        // both sides of the aligned window. MAP_NORESERVE: a 64 GiB arena must not need 64 GiB of
        // commit charge up front; pages are charged as they are first touched.
        nuint span = bytes + alignment - PageGeometry.PageSize;
        nint raw = Mmap(0, span, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapNoReserve, -1, 0);
        if (raw == -1)
            throw new OutOfMemoryException($"mmap of {span} bytes for the arena failed: {new Win32Exception(Marshal.GetLastPInvokeError()).Message}");

        nuint start = (nuint)raw;
        nuint aligned = (start + alignment - 1) & ~(alignment - 1);
        if (aligned > start)
            _ = Munmap((nint)start, aligned - start);
        nuint end = aligned + bytes;
        nuint rawEnd = start + span;
        if (rawEnd > end)
            _ = Munmap((nint)end, rawEnd - end);

        if (hugePages != HostHugePages.Default)
        {
            // Advice only: a kernel without THP answers EINVAL, and the arena works the same.
            _ = Madvise((nint)aligned, bytes, hugePages == HostHugePages.Always ? MadvHugepage : MadvNohugepage);
        }

        return (byte*)aligned;
    }

    public static void Release(byte* memory, nuint bytes)
    {
        if (!OperatingSystem.IsLinux())
        {
            NativeMemory.AlignedFree(memory);
            return;
        }

        _ = Munmap((nint)memory, bytes);
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint addr, nuint length);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint addr, nuint length, int advice);
}
