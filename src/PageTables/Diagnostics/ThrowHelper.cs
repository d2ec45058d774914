using System;
using System.Diagnostics.CodeAnalysis;

namespace LargeFolios.PageTables;

/// <summary>Throws kept out of line, so callers hold only a compare and a cold call.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    [SuppressMessage("Usage", "CA2201", Justification = "A table that cannot be allocated is the arena out of memory, as Arena.Allocate reports it.")]
    public static void ThrowOutOfMemory(string message) => throw new OutOfMemoryException(message);
}
