using System;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// An anonymous (large-rmappable) folio of order 1 was asked for, by allocation or by split.
/// Such a folio has only page[0] and page[1], so the deferred-split list that lives in page[2]
/// would be written into the next folio's head: the neighbour corruption of the seed thread.
/// Linux refuses it the same way (<c>THP_ORDERS_ALL_ANON</c> excludes order 1; a split to order 1
/// returns -EINVAL, "Cannot split to order-1 folio"). Nothing was changed.
/// </summary>
public sealed class OrderOneFolioException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public OrderOneFolioException(string message, long pfn)
        : base(message)
    {
        Pfn = pfn;
    }

    /// <summary>Creates the exception with a default message.</summary>
    public OrderOneFolioException()
        : base("anonymous folios of order 1 are not supported")
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    public OrderOneFolioException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public OrderOneFolioException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The PFN of the folio a split was refused for; -1 for an allocation.</summary>
    public long Pfn { get; } = -1;
}
