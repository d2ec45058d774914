using System;

namespace LargeFolios.FaultPath;

/// <summary>mremap (Linux mm/mremap.c).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary><c>mremap(old, oldLength, newLength, flags, newAddress)</c>.</summary>
    public ulong Mremap(ulong oldAddress, ulong oldLength, ulong newLength, ulong? newAddress)
    {
        ThrowIfDisposed();
        throw new NotSupportedException($"mremap of 0x{oldAddress:x} (0x{oldLength:x} to 0x{newLength:x}{(newAddress is { } to ? $" at 0x{to:x}" : "")}) is not modelled yet");
    }
}
