using System;

namespace LargeFolios.FaultPath;

/// <summary>fork (Linux kernel/fork.c dup_mmap, mm/memory.c copy_page_range).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary><c>fork</c>: a new address space on the same machine, a copy of this one.</summary>
    public AddressSpace Fork()
    {
        ThrowIfDisposed();
        throw new NotSupportedException("fork is not modelled yet");
    }
}
