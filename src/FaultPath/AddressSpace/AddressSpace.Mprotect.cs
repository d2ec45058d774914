using System;

namespace LargeFolios.FaultPath;

/// <summary>mprotect (Linux mm/mprotect.c).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary><c>mprotect(start, length, prot)</c>.</summary>
    public void Mprotect(ulong start, ulong length, MemoryProtection protection)
    {
        ThrowIfDisposed();
        throw new NotSupportedException($"mprotect at 0x{start:x} (length 0x{length:x}, {protection}) is not modelled yet");
    }
}
