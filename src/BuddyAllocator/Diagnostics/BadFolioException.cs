using System;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// A folio operation was given a page that is not in the state it needs (Linux's "Bad page
/// state"). The arena is unchanged. The message names the PFN, the address where the arena has
/// memory, the order and what was expected.
/// </summary>
public sealed class BadFolioException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public BadFolioException(string message, BadFolioReason reason, long pfn, int order)
        : base(message)
    {
        Reason = reason;
        Pfn = pfn;
        Order = order;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public BadFolioException()
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    public BadFolioException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public BadFolioException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>What was wrong.</summary>
    public BadFolioReason Reason { get; }

    /// <summary>The PFN concerned (-1 when there is none, as for an address outside the arena).</summary>
    public long Pfn { get; } = -1;

    /// <summary>The order the caller gave or the folio has (-1 when unknown).</summary>
    public int Order { get; } = -1;
}
