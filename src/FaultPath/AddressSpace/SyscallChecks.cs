using System.Diagnostics.CodeAnalysis;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// The argument checks of the memory syscalls, each in the order Linux 6.18 makes them and with its
/// errno (<see cref="BadAddressException.Errno"/>): the order decides which error an argument with
/// two faults gets. Each returns the end of the range the call acts on (its length rounded up to
/// whole pages, Linux <c>PAGE_ALIGN</c>).
/// </summary>
internal static class SyscallChecks
{
    private const ulong PageMask = PageGeometry.PageSize - 1;

    /// <summary>
    /// <c>mmap(addr, len, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS)</c> (<c>do_mmap</c>,
    /// <c>__get_unmapped_area</c>): a zero length is EINVAL; a length that overflows when rounded up,
    /// or is beyond user space, ENOMEM; an address too high for the length ENOMEM; only then an
    /// unaligned address EINVAL. Root passes <c>mmap_min_addr</c>.
    /// </summary>
    public static ulong Mmap(ulong start, ulong length)
    {
        if (length == 0)
            Throw("mmap", start, length, Errno.EINVAL, "the length is zero; expected at least one page");
        ulong aligned = Align(length);
        if (aligned == 0)
            Throw("mmap", start, length, Errno.ENOMEM, $"length 0x{length:x} overflows when rounded up to whole pages");
        if (aligned > VirtualAddress.TaskSize || start > VirtualAddress.TaskSize - aligned)
            Throw("mmap", start, length, Errno.ENOMEM, $"the range 0x{start:x}..+0x{aligned:x} ends beyond user space (TASK_SIZE 0x{VirtualAddress.TaskSize:x})");
        if ((start & PageMask) != 0)
            Throw("mmap", start, length, Errno.EINVAL, "the address is not page aligned; expected a multiple of 0x1000");
        return start + aligned;
    }

    /// <summary>
    /// <c>munmap(addr, len)</c> (<c>do_vmi_munmap</c>): an unaligned address, one beyond user space, or
    /// a length that reaches past it is EINVAL, and so is a length that rounds to nothing.
    /// </summary>
    public static ulong Munmap(ulong start, ulong length)
    {
        if ((start & PageMask) != 0)
            Throw("munmap", start, length, Errno.EINVAL, "the address is not page aligned; expected a multiple of 0x1000");
        if (start > VirtualAddress.TaskSize || length > VirtualAddress.TaskSize - start)
            Throw("munmap", start, length, Errno.EINVAL, $"the range 0x{start:x}..+0x{length:x} ends beyond user space (TASK_SIZE 0x{VirtualAddress.TaskSize:x})");
        ulong aligned = Align(length);
        if (aligned == 0)
            Throw("munmap", start, length, Errno.EINVAL, "the length is zero; expected at least one page");
        return start + aligned;
    }

    /// <summary>
    /// <c>madvise(addr, len, advice)</c> (<c>madvise_should_skip</c>): an unaligned address, a length
    /// that overflows when rounded up, or a range that wraps is EINVAL; a zero length succeeds doing
    /// nothing (<paramref name="empty"/>). There is no user-space check: a range past it finds no VMAs
    /// there (ENOMEM, after the mapped part).
    /// </summary>
    public static ulong Madvise(ulong start, ulong length, out bool empty)
    {
        if ((start & PageMask) != 0)
            Throw("madvise", start, length, Errno.EINVAL, "the address is not page aligned; expected a multiple of 0x1000");
        ulong aligned = Align(length);
        if (length != 0 && aligned == 0)
            Throw("madvise", start, length, Errno.EINVAL, $"length 0x{length:x} overflows when rounded up to whole pages");
        if (start + aligned < start)
            Throw("madvise", start, length, Errno.EINVAL, $"length 0x{length:x} overflows the address space");
        empty = aligned == 0;
        return start + aligned;
    }

    /// <summary>
    /// <c>mprotect(addr, len, prot)</c> (<c>do_mprotect_pkey</c>): an unaligned address is EINVAL; a zero
    /// length succeeds doing nothing (<paramref name="empty"/>); a length that overflows when rounded
    /// up, or a range that wraps, is ENOMEM. No user-space check either.
    /// </summary>
    public static ulong Mprotect(ulong start, ulong length, out bool empty)
    {
        if ((start & PageMask) != 0)
            Throw("mprotect", start, length, Errno.EINVAL, "the address is not page aligned; expected a multiple of 0x1000");
        empty = length == 0;
        if (empty)
            return start;
        ulong aligned = Align(length);
        if (aligned == 0 || start + aligned <= start)
            Throw("mprotect", start, length, Errno.ENOMEM, $"length 0x{length:x} overflows the address space");
        return start + aligned;
    }

    /// <summary>Linux <c>PAGE_ALIGN</c>: 0 when the length overflows.</summary>
    public static ulong Align(ulong length) => (length + PageMask) & ~PageMask;

    [DoesNotReturn]
    public static void Throw(string call, ulong start, ulong length, Errno errno, string why) =>
        throw new BadAddressException($"Cannot {call} at 0x{start:x}: {why}.", start, length, errno);
}
