using System;
using System.Globalization;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// A <see cref="HostMemory"/> bound refused native memory the model asked the host for (an arena's
/// descriptors or memory, a chunk of page-table side pages, a machine's page-content bits): what
/// was asked for, for what, and what the bound had left. Nothing was taken and nothing changed.
/// It is an <see cref="OutOfMemoryException"/>, as the host's own refusal would be, but one that
/// comes before the host kernel's OOM killer can.
/// </summary>
public sealed class HostMemoryException : OutOfMemoryException
{
    /// <summary>Creates the exception for a refused charge.</summary>
    /// <param name="requestedBytes">What was asked for.</param>
    /// <param name="what">What it was for ("the page descriptors of a 1 GiB arena").</param>
    /// <param name="limitBytes">The refusing bound's limit.</param>
    /// <param name="inUseBytes">What the bound had charged when it refused.</param>
    /// <param name="processBound">True when the refusing bound is <see cref="HostMemory.Process"/>.</param>
    public HostMemoryException(long requestedBytes, string what, long limitBytes, long inUseBytes, bool processBound)
        : base(Describe(requestedBytes, what, limitBytes, inUseBytes, processBound))
    {
        RequestedBytes = requestedBytes;
        What = what;
        LimitBytes = limitBytes;
        InUseBytes = inUseBytes;
        IsProcessBound = processBound;
    }

    /// <summary>Creates the exception with a default message.</summary>
    public HostMemoryException()
        : base("A host-memory bound refused the memory asked for.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public HostMemoryException(string message)
        : base(message)
    {
    }

    /// <summary>
    /// Creates the exception with a message and its cause; a cause that is itself a
    /// <see cref="HostMemoryException"/> (the refusal, told again with where it happened) lends
    /// its figures.
    /// </summary>
    public HostMemoryException(string message, Exception innerException)
        : base(message, innerException)
    {
        if (innerException is HostMemoryException refusal)
        {
            RequestedBytes = refusal.RequestedBytes;
            What = refusal.What;
            LimitBytes = refusal.LimitBytes;
            InUseBytes = refusal.InUseBytes;
            IsProcessBound = refusal.IsProcessBound;
        }
    }

    /// <summary>The bytes asked for.</summary>
    public long RequestedBytes { get; }

    /// <summary>What they were for.</summary>
    public string What { get; } = string.Empty;

    /// <summary>The refusing bound's limit in bytes.</summary>
    public long LimitBytes { get; }

    /// <summary>What the refusing bound had charged when it refused.</summary>
    public long InUseBytes { get; }

    /// <summary>What the refusing bound had left.</summary>
    public long AvailableBytes => Math.Max(0, LimitBytes - InUseBytes);

    /// <summary>True when the refusing bound is the process's (<see cref="HostMemory.Process"/>), false for a bound of its own.</summary>
    public bool IsProcessBound { get; }

    /// <summary>A size for people: bytes below 1 KiB, else the largest binary unit, exact ("64 MiB") or to one decimal ("18.9 GiB").</summary>
    internal static string FormatBytes(long bytes)
    {
        if (bytes < 1024)
            return bytes.ToString(CultureInfo.InvariantCulture) + " B";
        string[] units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        int unit = 0;
        double value = bytes / 1024.0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        string number = value == Math.Floor(value) ? value.ToString("0", CultureInfo.InvariantCulture) : value.ToString("0.0", CultureInfo.InvariantCulture);
        return number + " " + units[unit];
    }

    private static string Describe(long requestedBytes, string what, long limitBytes, long inUseBytes, bool processBound)
    {
        string bound = processBound ? "the process's host-memory bound" : "this host-memory bound";
        return $"Cannot take {FormatBytes(requestedBytes)} of host memory for {what}: {bound} of {FormatBytes(limitBytes)} " +
            $"has {FormatBytes(Math.Max(0, limitBytes - inUseBytes))} left ({FormatBytes(inUseBytes)} in use).";
    }
}
