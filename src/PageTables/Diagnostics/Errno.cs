namespace LargeFolios.PageTables;

/// <summary>
/// The error a Linux syscall returns, named as Linux names it (the values are x86-64's errno
/// numbers): what a refused <c>mmap</c>, <c>munmap</c>, <c>mprotect</c>, <c>mremap</c>,
/// <c>madvise</c> or <c>fork</c> of the model reports, on its exception, where the kernel would
/// return <c>-errno</c>.
/// </summary>
public enum Errno
{
    /// <summary>No error.</summary>
    None = 0,

    /// <summary>EPERM (1): operation not permitted.</summary>
    EPERM = 1,

    /// <summary>EAGAIN (11): try again (a collapse that met a busy folio, a fork that hit a limit).</summary>
    EAGAIN = 11,

    /// <summary>ENOMEM (12): out of memory, or a range that is not (wholly) mapped.</summary>
    ENOMEM = 12,

    /// <summary>EFAULT (14): bad address (mremap of a range that is not one VMA).</summary>
    EFAULT = 14,

    /// <summary>EBUSY (16): resource busy.</summary>
    EBUSY = 16,

    /// <summary>EEXIST (17): the range is in use.</summary>
    EEXIST = 17,

    /// <summary>EINVAL (22): invalid argument (unaligned address, zero or overflowing length, bad flags).</summary>
    EINVAL = 22,

    /// <summary>EOVERFLOW (75): the offset would overflow.</summary>
    EOVERFLOW = 75,
}
