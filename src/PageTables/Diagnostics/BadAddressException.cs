using System;

namespace LargeFolios.PageTables;

/// <summary>
/// A page-table or VMA operation was given an address or range it cannot take: not page aligned,
/// of zero length, overflowing, outside the 48-bit user address space, or (where a mapping is
/// required) not mapped. Nothing was changed. The message names the address and what was expected;
/// <see cref="Errno"/> is what Linux's syscall would return for it.
/// </summary>
public sealed class BadAddressException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public BadAddressException(string message, ulong address, ulong length)
        : this(message, address, length, Errno.EINVAL)
    {
    }

    /// <summary>Creates the exception with the errno Linux would return.</summary>
    public BadAddressException(string message, ulong address, ulong length, Errno errno)
        : base(message)
    {
        Address = address;
        Length = length;
        Errno = errno;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public BadAddressException()
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    public BadAddressException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public BadAddressException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The offending address (the start of the offending range).</summary>
    public ulong Address { get; }

    /// <summary>The length of the offending range (0 for a single address).</summary>
    public ulong Length { get; }

    /// <summary>What Linux's syscall returns for this range (EINVAL unless the thrower says otherwise).</summary>
    public Errno Errno { get; } = Errno.EINVAL;
}
