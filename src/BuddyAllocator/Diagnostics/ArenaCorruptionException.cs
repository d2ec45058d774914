using System;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// <see cref="Arena.Validate"/> found a broken invariant. The message names the PFN and the
/// invariant; this is always a bug (in the library or in code that wrote descriptors directly).
/// </summary>
public sealed class ArenaCorruptionException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public ArenaCorruptionException(string message, long pfn)
        : base(message)
    {
        Pfn = pfn;
    }

    /// <summary>Creates the exception with no message.</summary>
    public ArenaCorruptionException()
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    public ArenaCorruptionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public ArenaCorruptionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The PFN where the walk stopped (-1 for a whole-arena invariant).</summary>
    public long Pfn { get; } = -1;
}
