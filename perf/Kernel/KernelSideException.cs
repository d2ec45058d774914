using System;

namespace LargeFolios.Folios.Kernel;

/// <summary>
/// The kernel side cannot go on: a knob it cannot write, a helper that did not start or broke its
/// protocol, a scenario it cannot run safely here. The message is one sentence without a trailing
/// period; the command prints it and exits 2.
/// </summary>
internal sealed class KernelSideException : Exception
{
    public KernelSideException(string message)
        : base(message)
    {
    }

    public KernelSideException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public KernelSideException()
    {
    }
}
