using System;

namespace LargeFolios.FaultPath;

/// <summary>A validator found a broken invariant of the fault path's state: rmap counts, the deferred-split queue, or an address space's counters.</summary>
public sealed class FaultPathCorruptionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FaultPathCorruptionException()
    {
    }

    /// <summary>Creates the exception with a message naming what is broken and where.</summary>
    public FaultPathCorruptionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public FaultPathCorruptionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
