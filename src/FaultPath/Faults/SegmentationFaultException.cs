using System;

namespace LargeFolios.FaultPath;

/// <summary>
/// The access would get SIGSEGV from Linux (<c>do_user_addr_fault</c>: <c>bad_area</c> or
/// <c>access_error</c>): no VMA covers the address, or the VMA does not allow the access. Nothing
/// was changed.
/// </summary>
public sealed class SegmentationFaultException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SegmentationFaultException(string message, ulong address, FaultAccess access)
        : base(message)
    {
        Address = address;
        Access = access;
    }

    /// <summary>Creates the exception with a default message.</summary>
    public SegmentationFaultException()
        : this("Segmentation fault.", 0, FaultAccess.Read)
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public SegmentationFaultException(string message)
        : this(message, 0, FaultAccess.Read)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public SegmentationFaultException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The faulting address.</summary>
    public ulong Address { get; }

    /// <summary>The access that faulted.</summary>
    public FaultAccess Access { get; }
}
