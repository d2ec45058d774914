using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// One native region of page frames with its descriptors (the vmemmap), a buddy core and per-CPU
/// caches in front of it: the page allocator of a modelled machine whose only zone is this arena.
/// Hands out naturally aligned folios of 2^order pages, from any thread.
/// </summary>
/// <remarks>
/// <para><b>Concurrency.</b> Who may touch what:</para>
/// <code>
/// role                         holds                  may touch
/// allocating / freeing thread  one per-CPU set lock   that set's lists and counters; heads of blocks on them
///   (refill, drain)            + the zone lock        free lists, nr_free, bitmap; descriptors of free blocks
/// folio owner                  a reference            its folio's descriptors (split, owner fields)
/// Get / Put from any thread    a reference            the head's refcount, atomically
/// statistics readers           nothing, or zone lock  counters (racy reads, as /proc/buddyinfo), or a snapshot
/// Validate / Dispose           all locks / exclusive  everything; no other thread may use the arena
/// </code>
/// <para>Lock order: a per-CPU set's lock before the zone lock. A per-CPU lock is only ever tried on
/// the fast paths; when it is busy the operation goes to the zone directly, as Linux does when
/// <c>pcp_spin_trylock</c> fails. A block may be freed on any thread: it joins the freeing CPU's
/// cache, whichever CPU allocated it.</para>
/// <para><b>Lifetime.</b> An arena lives until <see cref="Dispose"/>, which releases its memory;
/// any later call throws <see cref="ObjectDisposedException"/>. Folio handles name their arena
/// by id, and the registry that resolves ids holds the arena, so it is never collected while
/// a call on it runs; an arena never disposed is never freed (as NativeMemory). Disposing
/// while other threads still use the arena is a caller bug that is not detected.</para>
/// </remarks>
public sealed unsafe partial class Arena : IDisposable
{
    // Refills take at most this many blocks at once, so their PFNs fit a stack buffer.
    private const int MaxBlocksPerBatch = 64;

    // Linux PAGE_FLAGS_CHECK_AT_FREE, reduced to the modelled flags: a freed folio is unlocked and
    // on no LRU list, whose links the free lists would overwrite.
    private const ulong FlagsCheckedAtFree = (ulong)(PageFlags.Locked | PageFlags.Lru);

    private readonly Zone _zone;
    private readonly long _totalPages;
    private readonly int _maxOrder;
    private readonly nuint _memoryBytes;
    private readonly int _perCpuMask;
    private readonly uint _perCpuOrders;
    private readonly ZoneWatermarks _watermarks;
    private readonly int _id;
    private readonly HostMemory _hostMemory;
    private long _hostCharged;
    private SidePagePool? _sidePages;
    private PageDescriptor* _pages;
    private byte* _memory;
    private PerCpuPages* _perCpu;

    /// <summary>
    /// Creates an arena of <paramref name="sizeBytes"/> bytes, all of it free in blocks of
    /// <paramref name="maxOrder"/>.
    /// </summary>
    /// <param name="sizeBytes">A positive whole number of max-order blocks (4 MiB each at the default order).</param>
    /// <param name="maxOrder">The largest block order (Linux MAX_PAGE_ORDER), 0..<see cref="PageGeometry.MaxSupportedOrder"/>.</param>
    /// <param name="options">Metadata-only mode, per-CPU cache sizing, the host-memory bound; null for the defaults.</param>
    /// <exception cref="HostMemoryException">The host-memory bound cannot take what the arena needs (<see cref="HostBytesFor"/>); nothing was taken.</exception>
    public Arena(long sizeBytes, int maxOrder = PageGeometry.DefaultMaxOrder, ArenaOptions? options = null)
    {
        options ??= ArenaOptions.Default;
        ValidateGeometry(sizeBytes, maxOrder, options);
        _hostMemory = options.HostMemory ?? HostMemory.Process;

        _maxOrder = maxOrder;
        _totalPages = sizeBytes >> PageGeometry.PageShift;
        _watermarks = ZoneWatermarks.For(_totalPages);

        int sets = options.PerCpuSets != 0 ? options.PerCpuSets : Environment.ProcessorCount;
        sets = (int)BitOperations.RoundUpToPowerOf2((uint)sets);
        _perCpuMask = sets - 1;
        int batch = options.PerCpuBatch != 0 ? options.PerCpuBatch : ZoneWatermarks.PerCpuBatch(_totalPages);
        int high = options.PerCpuHigh != 0 ? options.PerCpuHigh : _watermarks.PerCpuHigh(batch, sets);
        uint cacheable = (1u << (Math.Min(maxOrder, PageGeometry.PmdOrder) + 1)) - 1;
        _perCpuOrders = options.PerCpuOrders & cacheable;

        // Charged before anything is taken: the descriptors are all written below, so a host
        // that cannot hold them would otherwise meet its OOM killer here.
        long hostBytes = HostBytesForPages(_totalPages, sets, options.MetadataOnly);
        string what = options.MetadataOnly
            ? $"the page descriptors of a {HostMemoryException.FormatBytes(sizeBytes)} metadata-only arena"
            : $"the memory and page descriptors of a {HostMemoryException.FormatBytes(sizeBytes)} arena";
        _hostMemory.Charge(hostBytes, what);
        _hostCharged = hostBytes;

        try
        {
            nuint descriptorBytes = (nuint)_totalPages * PageDescriptor.Size;
            _pages = (PageDescriptor*)NativeMemory.AlignedAlloc(descriptorBytes, PageDescriptor.Size);
            var pristine = PageDescriptor.Pristine;
            for (long pfn = 0; pfn < _totalPages; pfn += int.MaxValue)
                new Span<PageDescriptor>(_pages + pfn, (int)Math.Min(int.MaxValue, _totalPages - pfn)).Fill(pristine);

            _perCpu = (PerCpuPages*)NativeMemory.AlignedAlloc((nuint)(sets * sizeof(PerCpuPages)), 128);
            for (int cpu = 0; cpu < sets; cpu++)
            {
                PerCpuPages* pcp = _perCpu + cpu;
                *pcp = default;
                pcp->High = high;
                pcp->Batch = batch;
                pcp->TakesUntilCpuCheck = PerCpuPages.CpuCheckInterval;
                for (int order = 0; order <= PageGeometry.PmdOrder; order++)
                    pcp->Lists[order] = PfnList.Empty;
            }

            if (!options.MetadataOnly)
            {
                _memoryBytes = (nuint)sizeBytes;
                _memory = ArenaMemory.Reserve(_memoryBytes, (nuint)PageGeometry.PageSize << maxOrder, options.HostHugePages);
            }
            else
            {
                _sidePages = new SidePagePool(_hostMemory);
            }

            _zone = new Zone(_pages, _totalPages, maxOrder);
            _id = ArenaRegistry.Reserve();
            _zone.ArenaId = _id;
            ArenaRegistry.Publish(_id, this);
        }
        catch
        {
            ReleaseNativeMemory();
            throw;
        }
    }

    /// <summary>
    /// The host memory an arena of <paramref name="sizeBytes"/> charges its bound when it is
    /// created: 64 bytes of descriptor per page, the per-CPU sets, and, unless metadata-only, the
    /// memory itself. Page-table side pages of a metadata-only arena are charged as they are needed.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sizeBytes"/> is 0 or negative.</exception>
    public static long HostBytesFor(long sizeBytes, ArenaOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sizeBytes);
        options ??= ArenaOptions.Default;
        int sets = options.PerCpuSets > 0 ? options.PerCpuSets : Environment.ProcessorCount;
        return HostBytesForPages(sizeBytes >> PageGeometry.PageShift, (int)BitOperations.RoundUpToPowerOf2((uint)sets), options.MetadataOnly);
    }

    /// <summary>The bound this arena and what hangs off it (page-table side pages, a machine's page-content bits) charge.</summary>
    public HostMemory HostMemory => _hostMemory;

    /// <summary>The largest block order (Linux MAX_PAGE_ORDER).</summary>
    public int MaxOrder => _maxOrder;

    /// <summary>Page frames in the arena.</summary>
    public long TotalPages => _totalPages;

    /// <summary>The arena's size in bytes.</summary>
    public long SizeBytes => _totalPages << PageGeometry.PageShift;

    /// <summary>False for a metadata-only arena.</summary>
    public bool HasMemory => _memory != null;

    /// <summary>The address of PFN 0, aligned to the largest block; null for a metadata-only arena.</summary>
    public byte* BaseAddress => _memory;

    /// <summary>The watermarks Linux would set for this arena as a zone.</summary>
    public ZoneWatermarks Watermarks => _watermarks;

    /// <summary>How many per-CPU page sets there are.</summary>
    public int PerCpuSetCount => _perCpuMask + 1;

    /// <summary>The orders the per-CPU sets cache, as a bit mask.</summary>
    public uint PerCpuOrders => _perCpuOrders;

    /// <summary>The per-CPU high watermark in pages (pcp->high).</summary>
    public int PerCpuHigh => _perCpu != null ? _perCpu->High : 0;

    /// <summary>The per-CPU batch in pages (pcp->batch).</summary>
    public int PerCpuBatch => _perCpu != null ? _perCpu->Batch : 0;

    /// <summary>True once <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => _pages == null;

    /// <summary>Pages on the buddy free lists (a racy read, as Linux's NR_FREE_PAGES).</summary>
    public long FreePages
    {
        get
        {
            ThrowIfDisposed();
            return _zone.FreePages;
        }
    }

    /// <summary>Pages held by the per-CPU caches (a racy sum).</summary>
    public long CachedPages
    {
        get
        {
            ThrowIfDisposed();
            long cached = 0;
            for (int cpu = 0; cpu <= _perCpuMask; cpu++)
                cached += Volatile.Read(ref _perCpu[cpu].Count);
            return cached;
        }
    }

    internal Zone Zone => _zone;

    /// <summary>The arena's id, as <see cref="Folio"/> handles, the trace events' <c>arenaId</c> and the metrics' <c>arena</c> tag carry it; never reused in a process.</summary>
    public int Id => _id;

    /// <summary>A handle to the folio of <paramref name="order"/> headed at <paramref name="pfn"/>, unchecked (the caller read the descriptors).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [LayerInterface]
    internal Folio HandleOf(uint pfn, int order) => new(_id, pfn, order);

    [LayerInterface]
    internal PageDescriptor* Pages => _pages;

    internal PerCpuPages* PerCpu => _perCpu;

    /// <summary>Where a metadata-only arena's page tables keep their entries; null for an arena with memory, whose pages hold them.</summary>
    [LayerInterface]
    internal SidePagePool? SidePages => _sidePages;

    /// <summary>Releases the memory and descriptors. Idempotent.</summary>
    public void Dispose() => ReleaseNativeMemory();

    private void ReleaseNativeMemory()
    {
        if (_id != 0 && _pages != null)
            ArenaRegistry.Unregister(_id);

        if (_memory != null)
        {
            ArenaMemory.Release(_memory, _memoryBytes);
            _memory = null;
        }

        if (_perCpu != null)
        {
            NativeMemory.AlignedFree(_perCpu);
            _perCpu = null;
        }

        if (_pages != null)
        {
            NativeMemory.AlignedFree(_pages);
            _pages = null;
        }

        _sidePages?.Dispose();
        _sidePages = null;
        _hostMemory.Uncharge(_hostCharged);
        _hostCharged = 0;
    }

    private static long HostBytesForPages(long pages, int perCpuSets, bool metadataOnly) =>
        (pages * PageDescriptor.Size) + ((long)perCpuSets * sizeof(PerCpuPages)) + (metadataOnly ? 0 : pages << PageGeometry.PageShift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [LayerInterface]
    internal void ThrowIfDisposed()
    {
        if (_pages == null)
            ThrowHelper.ThrowObjectDisposed();
    }

    internal string AddressText(uint pfn) =>
        _memory == null || pfn >= _totalPages ? string.Empty : $" (address 0x{(nuint)(_memory + ((nuint)pfn << PageGeometry.PageShift)):x})";

    private static void ValidateGeometry(long sizeBytes, int maxOrder, ArenaOptions options)
    {
        if ((uint)maxOrder > PageGeometry.MaxSupportedOrder)
            throw new ArgumentOutOfRangeException(nameof(maxOrder), maxOrder, $"Max order {maxOrder} is outside 0..{PageGeometry.MaxSupportedOrder}.");

        long blockBytes = (long)PageGeometry.PageSize << maxOrder;
        if (sizeBytes <= 0 || sizeBytes % blockBytes != 0)
        {
            throw new ArgumentException(
                $"Arena size {sizeBytes} bytes is not a positive whole number of order-{maxOrder} blocks ({blockBytes} bytes each).",
                nameof(sizeBytes));
        }

        if (sizeBytes >> PageGeometry.PageShift > PageGeometry.MaxPages)
            throw new ArgumentOutOfRangeException(nameof(sizeBytes), sizeBytes, $"Arena size {sizeBytes} bytes exceeds {PageGeometry.MaxPages} pages: PFNs are 32-bit.");

        if (options.PerCpuSets < 0 || options.PerCpuSets > 4096)
            throw new ArgumentOutOfRangeException(nameof(options), options.PerCpuSets, "PerCpuSets must be 0 (one per processor) or 1..4096.");
        if (options.PerCpuHigh < 0 || options.PerCpuBatch < 0)
            throw new ArgumentOutOfRangeException(nameof(options), "PerCpuHigh and PerCpuBatch must be 0 (Linux's default) or positive.");
    }
}
