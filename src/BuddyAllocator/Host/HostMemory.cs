using System;
using System.Diagnostics;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// A bound on the native memory the model takes from the host, and its one account: an arena's
/// descriptors and per-CPU sets, its memory when it has any (all of it, though the host commits it
/// only as it is touched), the 2 MiB chunks of side pages that hold a metadata-only arena's page
/// tables, a machine's page-content bits. What would pass the bound is refused before it is taken:
/// an arena cannot be created (<see cref="HostMemoryException"/>), a page table cannot be allocated
/// (the fault path's out-of-memory result, as when the arena itself is exhausted). So a run that
/// needs more than the host can give ends with an error of the model's, not the host kernel's OOM
/// killer.
/// </summary>
/// <remarks>
/// <para><see cref="Process"/> bounds the whole process. Unless <see cref="LimitBytes"/> is set, its
/// limit is fixed when it is first needed, from what the host had then
/// (<see cref="DefaultLimitBytes"/>: MemAvailable and the memory cgroups' room, less a margin for
/// the runtime and the managed heap, which it does not count).</para>
/// <para>A bound of one's own (<see cref="HostMemory(long)"/>), given to an arena through
/// <see cref="ArenaOptions.HostMemory"/>, limits what that arena and what hangs off it take, within
/// the process's bound: a charge passes both or neither.</para>
/// <para>Thread-safe: charges are compare-and-swap loops, so concurrent charges never overshoot a
/// limit together.</para>
/// </remarks>
public sealed class HostMemory
{
    private const long NotProbed = -1;

    // The margin the default leaves the rest of the process: an eighth of the room, and 128 MiB.
    private const long MarginBytes = 128L << 20;

    private readonly HostMemory? _parent;
    private long _limit;
    private long _inUse;
    private long _peak;
    private long _refusals;
    private HostMemoryException? _lastRefusal;

    private HostMemory()
    {
        _limit = NotProbed;
    }

    /// <summary>A bound of <paramref name="limitBytes"/> within the process's (<see cref="Process"/>).</summary>
    /// <param name="limitBytes">Positive.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="limitBytes"/> is 0 or negative.</exception>
    public HostMemory(long limitBytes)
    {
        CheckLimit(limitBytes);
        _limit = limitBytes;
        _parent = Process;
    }

    /// <summary>The process's bound: every arena charges it, directly or through a bound of its own.</summary>
    public static HostMemory Process { get; } = new();

    /// <summary>
    /// The most this bound lets the model take, in bytes. For <see cref="Process"/>, unless set,
    /// <see cref="DefaultLimitBytes"/> as it was when first read. Setting it below
    /// <see cref="InUseBytes"/> takes nothing back: later charges are refused until enough is
    /// released.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to 0 or less.</exception>
    public long LimitBytes
    {
        get
        {
            long limit = Volatile.Read(ref _limit);
            if (limit != NotProbed)
                return limit;
            _ = Interlocked.CompareExchange(ref _limit, DefaultLimitBytes(), NotProbed);
            return Volatile.Read(ref _limit);
        }

        set
        {
            CheckLimit(value);
            Volatile.Write(ref _limit, value);
        }
    }

    /// <summary>The bytes charged now.</summary>
    public long InUseBytes => Volatile.Read(ref _inUse);

    /// <summary>The most charged at once since this bound was created.</summary>
    public long PeakBytes => Volatile.Read(ref _peak);

    /// <summary>What a charge may still take: the least room left in this bound and the ones it lies within.</summary>
    public long AvailableBytes
    {
        get
        {
            long available = long.MaxValue;
            for (HostMemory? bound = this; bound != null; bound = bound._parent)
                available = Math.Min(available, Math.Max(0, bound.LimitBytes - bound.InUseBytes));
            return available;
        }
    }

    /// <summary>How many charges made through this bound were refused, by it or by one it lies within.</summary>
    public long Refusals => Volatile.Read(ref _refusals);

    /// <summary>The latest refused charge made through this bound, as the exception that tells it (never thrown itself); null before any.</summary>
    public HostMemoryException? LastRefusal => Volatile.Read(ref _lastRefusal);

    /// <summary>
    /// The limit <see cref="Process"/> takes unless told otherwise, from what the host has now: the
    /// least of /proc/meminfo's MemAvailable and the room under each memory cgroup of the process
    /// (v2 memory.max - memory.current, v1 memory.limit_in_bytes - memory.usage_in_bytes, the
    /// inactive page cache counted as room), less an eighth and 128 MiB for the runtime and the
    /// managed heap; never below half of that room. Off Linux, the runtime's available-memory
    /// figure stands for the room.
    /// </summary>
    public static long DefaultLimitBytes()
    {
        long room = HostMemoryProbe.RoomBytes();
        return Math.Max(1, Math.Max(room / 2, room - (room / 8) - MarginBytes));
    }

    /// <summary>Throws unless <paramref name="bytes"/> fits what this bound has left; takes nothing (a check before a run, whose charges come later).</summary>
    /// <param name="bytes">What the caller is about to need.</param>
    /// <param name="what">What for, as the message should say it.</param>
    /// <exception cref="HostMemoryException">It does not fit; the message names both figures.</exception>
    public void EnsureAvailable(long bytes, string what)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentNullException.ThrowIfNull(what);
        for (HostMemory? bound = this; bound != null; bound = bound._parent)
        {
            long limit = bound.LimitBytes;
            long inUse = bound.InUseBytes;
            if (bytes > limit - inUse)
                throw new HostMemoryException(bytes, what, limit, inUse, bound._parent == null);
        }
    }

    /// <summary>Charges <paramref name="bytes"/> to this bound and those it lies within, or to none of them.</summary>
    /// <returns>False when a bound refused; <see cref="Refusals"/> and <see cref="LastRefusal"/> then say so.</returns>
    internal bool TryCharge(long bytes, string what) => ChargeOrRefuse(bytes, what) == null;

    /// <summary><see cref="TryCharge"/>, throwing the refusal.</summary>
    /// <exception cref="HostMemoryException">A bound refused; nothing was charged.</exception>
    [LayerInterface]
    internal void Charge(long bytes, string what)
    {
        if (ChargeOrRefuse(bytes, what) is { } refusal)
            throw new HostMemoryException(refusal.Message, refusal);
    }

    /// <summary>Gives back what a charge took, to this bound and those it lies within.</summary>
    [LayerInterface]
    internal void Uncharge(long bytes)
    {
        Debug.Assert(bytes >= 0, "an uncharge is never negative");
        for (HostMemory? bound = this; bound != null; bound = bound._parent)
        {
            long left = Interlocked.Add(ref bound._inUse, -bytes);
            Debug.Assert(left >= 0, "more uncharged than was charged");
        }
    }

    /// <summary>The charge, or the refusal that undid it.</summary>
    private HostMemoryException? ChargeOrRefuse(long bytes, string what)
    {
        Debug.Assert(bytes >= 0, "a charge is never negative");
        HostMemory? refuser = null;
        for (HostMemory? bound = this; bound != null; bound = bound._parent)
        {
            if (!bound.TryTake(bytes))
            {
                refuser = bound;
                break;
            }
        }

        if (refuser == null)
            return null;

        var refusal = new HostMemoryException(bytes, what, refuser.LimitBytes, refuser.InUseBytes, refuser._parent == null);
        for (HostMemory bound = this; ; bound = bound._parent!)
        {
            if (bound != refuser)
                _ = Interlocked.Add(ref bound._inUse, -bytes);
            _ = Interlocked.Increment(ref bound._refusals);
            Volatile.Write(ref bound._lastRefusal, refusal);
            if (bound == refuser)
                return refusal;
        }
    }

    private bool TryTake(long bytes)
    {
        long limit = LimitBytes;
        long inUse = Volatile.Read(ref _inUse);
        while (true)
        {
            if (bytes > limit - inUse)
                return false;
            long seen = Interlocked.CompareExchange(ref _inUse, inUse + bytes, inUse);
            if (seen == inUse)
                break;
            inUse = seen;
        }

        long now = inUse + bytes;
        long peak = Volatile.Read(ref _peak);
        while (now > peak)
        {
            long seen = Interlocked.CompareExchange(ref _peak, now, peak);
            if (seen == peak)
                break;
            peak = seen;
        }

        return true;
    }

    private static void CheckLimit(long limitBytes)
    {
        if (limitBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(limitBytes), limitBytes, $"A host-memory bound of {limitBytes} bytes is not a limit; expected a positive number of bytes.");
    }
}
