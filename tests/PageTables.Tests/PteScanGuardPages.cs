using System;
using System.ComponentModel;
using System.Runtime.InteropServices;

namespace LargeFolios.PageTables.Tests;

/// <summary>
/// One readable, writable, zeroed page between two inaccessible ones (Linux only): a scan that
/// reads even one entry before or after its range here faults and takes the test host down, which
/// no ordinary buffer can show, since reading a neighbour's bytes goes unnoticed there.
/// </summary>
internal sealed unsafe partial class PteScanGuardPages : IDisposable
{
    /// <summary>Bytes in one host page; the readable page holds one whole table of entries.</summary>
    public const int PageSize = 4096;

    private const int ProtNone = 0x0;
    private const int ProtRead = 0x1;
    private const int ProtWrite = 0x2;
    private const int MapPrivate = 0x02;
    private const int MapAnonymous = 0x20;

    private readonly nint _mapping;

    private PteScanGuardPages(nint mapping) => _mapping = mapping;

    /// <summary>The first entry of the readable page; entry 511 is its last.</summary>
    public ulong* Readable => (ulong*)(_mapping + PageSize);

    /// <summary>Maps the three pages and takes every access away from the outer two.</summary>
    public static PteScanGuardPages Map()
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("Guard pages use mmap and mprotect; Linux only.");
        nint mapping = Mmap(0, 3 * PageSize, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (mapping == -1)
            throw new Win32Exception(Marshal.GetLastPInvokeError(), "mmap of three pages failed");
        var pages = new PteScanGuardPages(mapping);
        if (Mprotect(mapping, PageSize, ProtNone) != 0 || Mprotect(mapping + 2 * PageSize, PageSize, ProtNone) != 0)
        {
            int error = Marshal.GetLastPInvokeError();
            pages.Dispose();
            throw new Win32Exception(error, "mprotect(PROT_NONE) of a guard page failed");
        }

        return pages;
    }

    /// <summary>Unmaps all three pages.</summary>
    public void Dispose() => _ = Munmap(_mapping, 3 * PageSize);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int Mprotect(nint addr, nuint length, int prot);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint addr, nuint length);
}
