using System;

namespace LargeFolios.Folios.Tracing;

/// <summary>
/// The trace file cannot be written (a directory, no permission, no such device): the option's
/// value is at fault, so nothing was started. The message is one line naming the file.
/// </summary>
internal sealed class TraceOutputException : Exception
{
    public TraceOutputException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
