using System;

namespace LargeFolios.PageTables;

/// <summary>
/// <see cref="PageTableTree.Validate"/> found a broken invariant. The message names the virtual
/// address and table page concerned and what was expected.
/// </summary>
public sealed class PageTableCorruptionException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public PageTableCorruptionException(string message, ulong address, long tablePfn)
        : base(message)
    {
        Address = address;
        TablePfn = tablePfn;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public PageTableCorruptionException()
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    public PageTableCorruptionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public PageTableCorruptionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The first virtual address the broken entry or table covers.</summary>
    public ulong Address { get; }

    /// <summary>The PFN of the table page concerned (-1 when none).</summary>
    public long TablePfn { get; } = -1;
}
