using System.Diagnostics.CodeAnalysis;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>Argument checks shared by the page tables and the VMA set: every failure names the address.</summary>
[LayerInterface]
internal static class AddressChecks
{
    /// <summary>
    /// Checks a user range [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>):
    /// page aligned start and length, not empty, no overflow, inside user space.
    /// </summary>
    public static ulong CheckRange(ulong start, ulong length, string what)
    {
        if (!VirtualAddress.IsPageAligned(start))
            Throw($"Cannot {what} at 0x{start:x}: the address is not page aligned; expected a multiple of 0x1000.", start, length);
        if (length == 0)
            Throw($"Cannot {what} at 0x{start:x}: the length is zero; expected at least one page.", start, length);
        if (!VirtualAddress.IsPageAligned(length))
            Throw($"Cannot {what} at 0x{start:x}: length 0x{length:x} is not a whole number of pages.", start, length);
        ulong end = start + length;
        if (end < start)
            Throw($"Cannot {what} at 0x{start:x}: length 0x{length:x} overflows the address space.", start, length);
        if (end > VirtualAddress.TaskSize)
            Throw($"Cannot {what} at 0x{start:x}..0x{end:x}: the range ends beyond user space (TASK_SIZE 0x{VirtualAddress.TaskSize:x}).", start, length);
        return end;
    }

    /// <summary>Checks one user page address.</summary>
    public static void CheckPage(ulong address, string what)
    {
        if (!VirtualAddress.IsPageAligned(address))
            Throw($"Cannot {what} at 0x{address:x}: the address is not page aligned; expected a multiple of 0x1000.", address, 0);
        if (address >= VirtualAddress.TaskSize)
            Throw($"Cannot {what} at 0x{address:x}: the address is beyond user space (TASK_SIZE 0x{VirtualAddress.TaskSize:x}).", address, 0);
    }

    [DoesNotReturn]
    public static void Throw(string message, ulong address, ulong length) =>
        throw new BadAddressException(message, address, length);
}
