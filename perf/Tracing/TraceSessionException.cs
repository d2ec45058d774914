using System;

namespace LargeFolios.Folios.Tracing;

/// <summary>A trace session could not be opened: the child did not start, its runtime opened no diagnostic port, or the runtime refused the session.</summary>
internal sealed class TraceSessionException : Exception
{
    public TraceSessionException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
