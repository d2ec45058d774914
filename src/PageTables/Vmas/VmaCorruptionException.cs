using System;

namespace LargeFolios.PageTables;

/// <summary>
/// <see cref="VmaSet.Validate"/> found a broken invariant: VMAs out of order or overlapping, unaligned,
/// empty, beyond user space, with impossible flags, or two touching VMAs with identical flags that
/// should have merged. The message names the VMA addresses and the invariant. Always a bug, in the
/// set or in code that forged its contents.
/// </summary>
public sealed class VmaCorruptionException : InvalidOperationException
{
    /// <summary>Creates the exception for the VMA [<paramref name="start"/>, <paramref name="end"/>).</summary>
    public VmaCorruptionException(string message, ulong start, ulong end)
        : base(message)
    {
        Start = start;
        End = end;
    }

    /// <summary>Creates the exception with no message.</summary>
    public VmaCorruptionException()
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    public VmaCorruptionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public VmaCorruptionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The start of the VMA where the check failed.</summary>
    public ulong Start { get; }

    /// <summary>The end (exclusive) of the VMA where the check failed.</summary>
    public ulong End { get; }
}
