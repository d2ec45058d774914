using System;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// A syscall of the model failed as Linux's would, for a reason other than its address arguments
/// (those are <see cref="BadAddressException"/>): a fork or a collapse that could not be done, a
/// mremap that cannot grow in place. <see cref="Errno"/> is what Linux returns; the message says
/// why and names the address.
/// </summary>
public sealed class SyscallException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SyscallException(string message, Errno errno, ulong address)
        : base(message)
    {
        Errno = errno;
        Address = address;
    }

    /// <summary>Creates the exception with a message only (EINVAL).</summary>
    public SyscallException(string message)
        : this(message, Errno.EINVAL, 0)
    {
    }

    /// <summary>Creates the exception with a message and its cause (EINVAL).</summary>
    public SyscallException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errno = Errno.EINVAL;
    }

    /// <summary>Creates the exception with a default message (EINVAL).</summary>
    public SyscallException()
        : this("A syscall failed.")
    {
    }

    /// <summary>What Linux's syscall returns.</summary>
    public Errno Errno { get; }

    /// <summary>The address the call was given.</summary>
    public ulong Address { get; }
}
