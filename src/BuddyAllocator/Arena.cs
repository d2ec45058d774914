using System;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Diagnostics.CodeAnalysis;
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
    private PageDescriptor* _pages;
    private byte* _memory;
    private PerCpuPages* _perCpu;

    /// <summary>
    /// Creates an arena of <paramref name="sizeBytes"/> bytes, all of it free in blocks of
    /// <paramref name="maxOrder"/>.
    /// </summary>
    /// <param name="sizeBytes">A positive whole number of max-order blocks (4 MiB each at the default order).</param>
    /// <param name="maxOrder">The largest block order (Linux MAX_PAGE_ORDER), 0..<see cref="PageGeometry.MaxSupportedOrder"/>.</param>
    /// <param name="options">Metadata-only mode, per-CPU cache sizing; null for the defaults.</param>
    public Arena(long sizeBytes, int maxOrder = PageGeometry.DefaultMaxOrder, ArenaOptions? options = null)
    {
        options ??= ArenaOptions.Default;
        ValidateGeometry(sizeBytes, maxOrder, options);

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
    internal Folio HandleOf(uint pfn, int order) => new(_id, pfn, order);

    internal PageDescriptor* Pages => _pages;

    internal PerCpuPages* PerCpu => _perCpu;

    // ---------------------------------------------------------------- addresses and descriptors

    /// <summary>The address of page <paramref name="pfn"/>.</summary>
    public byte* PfnToAddress(uint pfn)
    {
        ThrowIfDisposed();
        if (_memory == null)
            ThrowHelper.ThrowNoMemory();
        if (pfn >= _totalPages)
            ThrowHelper.ThrowPfnOutOfRange(pfn, _totalPages);
        return _memory + ((nuint)pfn << PageGeometry.PageShift);
    }

    /// <summary>The PFN of the page holding <paramref name="address"/>.</summary>
    public uint AddressToPfn(void* address)
    {
        ThrowIfDisposed();
        if (_memory == null)
            ThrowHelper.ThrowNoMemory();
        nuint offset = (nuint)address - (nuint)_memory;
        if ((byte*)address < _memory || offset >= _memoryBytes)
            ThrowNotInArena(address);
        return (uint)(offset >> PageGeometry.PageShift);
    }

    /// <summary>
    /// The descriptor of page <paramref name="pfn"/>, for inspection and for layers above (page
    /// tables, the fault path) that own a folio's fields. Writing it bypasses every check.
    /// </summary>
    public ref PageDescriptor Page(uint pfn)
    {
        ThrowIfDisposed();
        if (pfn >= _totalPages)
            ThrowHelper.ThrowPfnOutOfRange(pfn, _totalPages);
        return ref _pages[pfn];
    }

    /// <summary>The live folio that page <paramref name="pfn"/> belongs to (tail -> head lookup).</summary>
    /// <exception cref="BadFolioException">The page is free.</exception>
    public Folio FolioOf(uint pfn)
    {
        if (!TryGetFolio(pfn, out Folio folio))
            ThrowHelper.ThrowBadFolio($"PFN 0x{pfn:x}{AddressText(pfn)} is free: it belongs to no folio.", BadFolioReason.AlreadyFree, pfn, -1);
        return folio;
    }

    /// <summary>The live folio holding <paramref name="address"/>.</summary>
    public Folio FolioAt(void* address) => FolioOf(AddressToPfn(address));

    /// <summary>Looks up the live folio that page <paramref name="pfn"/> belongs to.</summary>
    /// <returns>False when the page is free (in the buddy core or a per-CPU cache).</returns>
    public bool TryGetFolio(uint pfn, out Folio folio)
    {
        ThrowIfDisposed();
        if (pfn >= _totalPages)
            ThrowHelper.ThrowPfnOutOfRange(pfn, _totalPages);

        ref PageDescriptor page = ref _pages[pfn];
        uint head = page.IsTail ? page.HeadPfn : pfn;
        ref PageDescriptor headPage = ref _pages[head];
        if (Volatile.Read(ref headPage.Refcount) <= 0 || headPage.HasPageType)
        {
            folio = default;
            return false;
        }

        folio = new Folio(_id, head, headPage.IsHead ? _pages[head + 1].FolioOrder : 0);
        return true;
    }

    // ---------------------------------------------------------------- allocation

    /// <summary>Allocates a folio of 2^<paramref name="order"/> pages, naturally aligned.</summary>
    /// <exception cref="OutOfMemoryException">No block of that order is free.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The order is outside 0..<see cref="MaxOrder"/>.</exception>
    /// <exception cref="OrderOneFolioException">An anonymous folio of order 1 was asked for.</exception>
    public Folio Allocate(int order, FolioKind kind = FolioKind.Plain)
    {
        uint pfn = TakeCachedBlock(order, kind);
        if (pfn == PageDescriptor.Nil)
            return AllocateSlow(order, kind, throwWhenOutOfMemory: true);
        if (LargeFoliosEventSource.IsOn)
            return HandOutTraced(pfn, order, kind, fromCache: true);
        return HandOut(pfn, order, kind);
    }

    /// <summary>Allocates a folio of 2^<paramref name="order"/> pages, or reports that none is free.</summary>
    /// <returns>False when the arena has no free block of that order, even after draining every
    /// per-CPU cache (Linux's <c>drain_all_pages</c> before it gives up).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The order is outside 0..<see cref="MaxOrder"/>.</exception>
    /// <exception cref="OrderOneFolioException">An anonymous folio of order 1 was asked for.</exception>
    public bool TryAllocate(int order, out Folio folio, FolioKind kind = FolioKind.Plain)
    {
        uint pfn = TakeCachedBlock(order, kind);
        if (pfn == PageDescriptor.Nil)
        {
            folio = AllocateSlow(order, kind, throwWhenOutOfMemory: false);
            return !folio.IsNull;
        }

        folio = LargeFoliosEventSource.IsOn ? HandOutTraced(pfn, order, kind, fromCache: true) : HandOut(pfn, order, kind);
        return true;
    }

    /// <summary>Thaws a frozen block into a live folio of <paramref name="kind"/> and names it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Folio HandOut(uint pfn, int order, FolioKind kind)
    {
        CompoundPage.Thaw(_pages + pfn, order, kind);
        DebugVm.CheckFolio(this, pfn, order);
        return new Folio(_id, pfn, order);
    }

    // The fast paths test IsOn once, where their arguments are live anyway, and take these out-of-
    // line twins when a session listens: past the test, the untraced path is the code of a build
    // without events (the JIT lays out the same frame), and the traced one writes its event last.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Folio HandOutTraced(uint pfn, int order, FolioKind kind, bool fromCache)
    {
        Folio folio = HandOut(pfn, order, kind);
        LargeFoliosEventSource.Log.FolioAllocated(_id, pfn, order, CurrentCpu.Id & _perCpuMask, fromCache);
        return folio;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FreeBlockTraced(uint pfn, int order)
    {
        bool cached = FreeBlock(pfn, order);
        LargeFoliosEventSource.Log.FolioFreed(_id, pfn, order, CurrentCpu.Id & _perCpuMask, cached);
    }

    /// <summary><see cref="FreeBlock"/>, or its traced twin while a session listens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ReleaseBlock(uint pfn, int order)
    {
        if (LargeFoliosEventSource.IsOn)
        {
            FreeBlockTraced(pfn, order);
            return;
        }

        FreeBlock(pfn, order);
    }

    /// <summary>
    /// The allocation fast path: a block from the calling CPU's cache. Cost: the CPU lookup (one
    /// load), one try-lock and a list pop. It makes no call, so its callers keep a small frame; every other
    /// case (a bad argument, a disposed arena, an uncached order, a busy or empty cache) answers
    /// <see cref="PageDescriptor.Nil"/> and <see cref="AllocateSlow"/> sorts it out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint TakeCachedBlock(int order, FolioKind kind)
    {
        if (_pages == null || (uint)order > (uint)_maxOrder || ((_perCpuOrders >> order) & 1) == 0
            || (kind == FolioKind.Anonymous & order == 1))
        {
            return PageDescriptor.Nil;
        }

        PerCpuPages* pcp = _perCpu + (CurrentCpu.Id & _perCpuMask);
        if (!pcp->Lock.TryEnter())
            return PageDescriptor.Nil;

        uint pfn = pcp->Lists[order].IsEmpty ? PageDescriptor.Nil : PopCachedLocked(pcp, order);
        if (--pcp->TakesUntilCpuCheck == 0)
        {
            pcp->TakesUntilCpuCheck = PerCpuPages.CpuCheckInterval;
            CurrentCpu.Forget();
        }

        pcp->Lock.Exit();
        return pfn;
    }

    /// <summary>Takes the hottest block of <paramref name="order"/> from a non-empty per-CPU list whose lock the caller holds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint PopCachedLocked(PerCpuPages* pcp, int order)
    {
        uint pfn = pcp->Lists[order].RemoveHead(_pages);
        pcp->Count -= 1 << order;
        pcp->Allocations++;
        Debug.Assert(order == 0 || _pages[pfn + 1].FolioOrder == order, "cached block lost its compound layout");
        return pfn;
    }

    /// <summary>
    /// Every allocation the fast path declined (Linux <c>rmqueue</c> beyond the pcp hit): checks
    /// the arguments, then takes a block from the CPU's cache (refilling it from the buddy core
    /// when empty), or from the buddy core when the order is not cached or the cache is busy, or
    /// from the buddy core after every cache is drained.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Folio AllocateSlow(int order, FolioKind kind, bool throwWhenOutOfMemory)
    {
        PageDescriptor* pages = _pages;
        if (pages == null)
            ThrowHelper.ThrowObjectDisposed();
        if ((uint)order > (uint)_maxOrder || (kind == FolioKind.Anonymous & order == 1))
            ThrowHelper.ThrowBadOrder(order, _maxOrder, kind);

        uint pfn;
        bool fromCache = false;
        if (((_perCpuOrders >> order) & 1) != 0)
        {
            PerCpuPages* pcp = _perCpu + (CurrentCpu.Id & _perCpuMask);
            if (pcp->Lock.TryEnter())
            {
                if (pcp->Lists[order].IsEmpty)
                {
                    pfn = RefillAndAllocate(pcp, order);
                }
                else
                {
                    pfn = PopCachedLocked(pcp, order);
                    pcp->Lock.Exit();
                    fromCache = true;
                }
            }
            else
            {
                CurrentCpu.Forget();
                pfn = AllocateBlockFromZone(order);
            }
        }
        else
        {
            pfn = AllocateBlockFromZone(order);
        }

        if (pfn == PageDescriptor.Nil)
        {
            if (LargeFoliosEventSource.IsOn)
                LargeFoliosEventSource.Log.AllocationFailed(_id, order, _zone.FreePages);
            return throwWhenOutOfMemory ? ThrowHelper.ThrowOutOfMemory(order) : default;
        }

        return LargeFoliosEventSource.IsOn ? HandOutTraced(pfn, order, kind, fromCache) : HandOut(pfn, order, kind);
    }

    /// <summary>
    /// The per-CPU list of <paramref name="order"/> is empty: move a batch of blocks from the
    /// buddy core onto it (Linux <c>rmqueue_bulk</c>, <c>nr_pcp_alloc</c>: batch / 2^order
    /// blocks, at least two, but no more than fit below high) and return the first. Called with
    /// the set's lock held; releases it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private uint RefillAndAllocate(PerCpuPages* pcp, int order)
    {
        // Linux takes batch / 2^order blocks, at least two, and bounds only order 0 by the room
        // left below high. Bounding every order keeps a refill of large blocks from overshooting
        // high, which would make the next free drain what the refill just stamped.
        int wanted = pcp->Batch > 1 ? Math.Max(pcp->Batch >> order, 2) : 1;
        int room = Math.Max((pcp->High - pcp->Count) >> order, 1);
        wanted = Math.Min(Math.Min(wanted, room), MaxBlocksPerBatch);
        uint* blocks = stackalloc uint[MaxBlocksPerBatch];
        int taken = 0;

        _zone.Lock.Enter();
        while (taken < wanted)
        {
            uint pfn = _zone.RemoveSmallestLocked(order);
            if (pfn == PageDescriptor.Nil)
                break;
            blocks[taken++] = pfn;
        }

        _zone.Lock.Exit();

        // The tails are stamped outside the zone lock: the blocks are this set's alone now.
        ref PfnList list = ref pcp->Lists[order];
        for (int i = 1; i < taken; i++)
        {
            CompoundPage.PrepFrozen(_pages + blocks[i], blocks[i], order);
            list.AddTail(_pages, blocks[i]);
        }

        if (taken > 1)
            pcp->Count += (taken - 1) << order;
        if (taken > 0)
            pcp->Allocations++;
        DebugVm.CheckPerCpuSetLocked(this, pcp);
        pcp->Lock.Exit();

        if (taken == 0)
            return AllocateBlockAfterDrain(order);
        if (LargeFoliosEventSource.IsOn)
            LargeFoliosEventSource.Log.PerCpuRefill(_id, CurrentCpu.Id & _perCpuMask, order, taken);

        CompoundPage.PrepFrozen(_pages + blocks[0], blocks[0], order);
        return blocks[0];
    }

    /// <summary>The buddy core directly: for uncached orders and when the CPU's set is busy.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private uint AllocateBlockFromZone(int order)
    {
        uint pfn = TakeFromZone(order);
        return pfn != PageDescriptor.Nil ? pfn : AllocateBlockAfterDrain(order);
    }

    /// <summary>One block from the buddy core, made a frozen folio outside the zone lock; <see cref="PageDescriptor.Nil"/> if none.</summary>
    private uint TakeFromZone(int order)
    {
        _zone.Lock.Enter();
        uint pfn = _zone.RemoveSmallestLocked(order);
        if (pfn != PageDescriptor.Nil)
            _zone.Allocations++;
        _zone.Lock.Exit();
        if (pfn != PageDescriptor.Nil)
            CompoundPage.PrepFrozen(_pages + pfn, pfn, order);
        return pfn;
    }

    /// <summary>
    /// The buddy core had nothing: pages may sit in other CPUs' caches, so drain them all and try
    /// once more (Linux drains every CPU's lists before an allocation is allowed to fail). The
    /// drain takes every set's lock even when the sets look empty: a refill or drain that another
    /// thread has under way holds blocks that are in no list until its lock is released.
    /// </summary>
    private uint AllocateBlockAfterDrain(int order)
    {
        DrainPerCpuCaches();
        return TakeFromZone(order);
    }

    // ---------------------------------------------------------------- freeing

    /// <summary>
    /// Frees a folio the caller holds the only reference to. The folio must be unmapped, unpinned
    /// and off any deferred-split queue. It joins the calling CPU's cache when its order is cached,
    /// else the buddy core, where it merges with its free buddies.
    /// </summary>
    /// <exception cref="BadFolioException">Double free, tail page, wrong arena, stale order, still
    /// referenced, mapped, pinned or queued; the arena is unchanged.</exception>
    public void Free(Folio folio)
    {
        // The fast path: the cheap check, the refcount freeze, then the calling CPU's cache. A
        // handle that fails either goes to FreeSlow for the diagnosis.
        uint pfn = folio.Pfn;
        int order = folio.Order;
        PageDescriptor* pages = _pages;
        if (folio.ArenaId == _id && pages != null && IsFreeable(pages + pfn, order) && TryFreezeRefcount(pages + pfn))
        {
            DebugVm.CheckFolio(this, pfn, order, frozen: true);
            ReleaseBlock(pfn, order);
            return;
        }

        FreeSlow(folio);
    }

    /// <summary>
    /// Linux <c>folio_ref_freeze(folio, 1)</c>: the commit point of every free and split. Only one
    /// of two threads racing to free the same folio gets past it; the other is told the folio is
    /// already free, and no list sees the block twice.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryFreezeRefcount(PageDescriptor* head) =>
        Interlocked.CompareExchange(ref head->Refcount, 0, 1) == 1;

    /// <summary>The frees the fast path declined: diagnoses bad handles, else frees through <see cref="FreeBlock"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FreeSlow(Folio folio)
    {
        PageDescriptor* pages = _pages;
        if (folio.ArenaId != _id || pages == null)
            ThrowForeignFolio(folio);

        uint pfn = folio.Pfn;
        int order = folio.Order;
        if (!IsFreeable(pages + pfn, order))
            ThrowNotFreeable(pfn, order);
        if (!TryFreezeRefcount(pages + pfn))
            ThrowNotFreeable(pfn, order);
        DebugVm.CheckFolio(this, pfn, order, frozen: true);

        // Only a racing Get or Put between the fast path's check and its freeze gets here with a
        // good folio.
        ReleaseBlock(pfn, order);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DrainAndUnlock(PerCpuPages* pcp, int order)
    {
        int drained = DrainLocked(pcp, order, all: false);
        pcp->Lock.Exit();
        if (LargeFoliosEventSource.IsOn)
            LargeFoliosEventSource.Log.PerCpuDrain(_id, CurrentCpu.Id & _perCpuMask, drained);
    }

    /// <summary>Frees the folio whose head page is at <paramref name="address"/>.</summary>
    /// <exception cref="BadFolioException">The address is outside the arena, unaligned, a tail, or
    /// not a folio that can be freed; the arena is unchanged.</exception>
    public void Free(void* address)
    {
        uint pfn = AddressToPfn(address);
        if (((nuint)address & (PageGeometry.PageSize - 1)) != 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free address 0x{(nuint)address:x} (PFN 0x{pfn:x}): it is not page aligned; expected the address of a folio's head page.",
                BadFolioReason.NotPageAligned, pfn, -1);
        }

        ref PageDescriptor page = ref _pages[pfn];
        int order = !page.IsTail && page.IsHead ? _pages[pfn + 1].FolioOrder : 0;
        if (!IsFreeable(_pages + pfn, order))
            ThrowNotFreeable(pfn, order);
        if (!TryFreezeRefcount(_pages + pfn))
            ThrowNotFreeable(pfn, order);
        DebugVm.CheckFolio(this, pfn, order, frozen: true);
        ReleaseBlock(pfn, order);
    }

    /// <summary>
    /// Takes another reference to a live folio (Linux <c>folio_try_get</c>: never resurrects a
    /// folio whose count already reached zero).
    /// </summary>
    public void Get(Folio folio)
    {
        if (folio.ArenaId != _id || _pages == null)
            ThrowForeignFolio(folio);
        PageDescriptor* head = _pages + folio.Pfn;
        if (head->IsTail || ActualOrder(folio.Pfn) != folio.Order || !TryGetReference(head))
            ThrowNotFreeable(folio.Pfn, folio.Order);
    }

    /// <summary>
    /// Linux <c>folio_try_get</c> on the folio headed at <paramref name="headPfn"/>, for the layers
    /// above that found it through a mapping and checked it: one more reference unless the count
    /// already reached zero, so a folio whose last reference is going is never revived.
    /// </summary>
    internal bool TryGetReference(uint headPfn) => TryGetReference(_pages + headPfn);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryGetReference(PageDescriptor* head)
    {
        while (true)
        {
            int refs = Volatile.Read(ref head->Refcount);
            if (refs <= 0)
                return false;
            if (Interlocked.CompareExchange(ref head->Refcount, refs + 1, refs) == refs)
                return true;
        }
    }

    /// <summary>The order of the folio headed at <paramref name="pfn"/>, read from its descriptors.</summary>
    private int ActualOrder(uint pfn) => _pages[pfn].IsHead ? _pages[pfn + 1].FolioOrder : 0;

    /// <summary>
    /// Drops a reference (Linux <c>folio_put</c>); the last one frees the folio, which must then be
    /// in a freeable state.
    /// </summary>
    /// <returns>True when this call freed the folio.</returns>
    public bool Put(Folio folio)
    {
        PageDescriptor* pages = _pages;
        if (folio.ArenaId != _id || pages == null)
            ThrowForeignFolio(folio);

        uint pfn = folio.Pfn;
        ref PageDescriptor head = ref pages[pfn];
        while (true)
        {
            int refs = Volatile.Read(ref head.Refcount);
            if (refs == 1)
            {
                // The last reference: check everything before giving it up, so a refused free
                // leaves the folio exactly as it was.
                if (!IsFreeable(pages + pfn, folio.Order))
                {
                    if (Volatile.Read(ref head.Refcount) != 1)
                        continue;   // a racing Get or Put: look again
                    ThrowNotFreeable(pfn, folio.Order);
                }

                if (!TryFreezeRefcount(pages + pfn))
                    continue;
                DebugVm.CheckFolio(this, pfn, folio.Order, frozen: true);
                ReleaseBlock(pfn, folio.Order);
                return true;
            }

            if (refs <= 0 || head.IsTail || ActualOrder(pfn) != folio.Order)
                ThrowNotFreeable(pfn, folio.Order);
            if (Interlocked.CompareExchange(ref head.Refcount, refs - 1, refs) == refs)
                return false;
        }
    }

    /// <summary>
    /// Linux <c>folio_put_refs</c> up to the test: drops <paramref name="refs"/> references at once
    /// (one per PTE an mTHP loses in a zap) with one atomic add.
    /// </summary>
    /// <returns>True when they were the last: the folio is then frozen (refcount 0), the caller owns
    /// it and must hand it to <see cref="FreeFrozen"/> once it has undone its own state (Linux
    /// <c>__folio_put</c>: unqueue from deferred split, uncharge, then free).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool PutTestZero(Folio folio, int refs)
    {
        Debug.Assert(folio.ArenaId == _id && refs > 0, "PutTestZero on a foreign folio or with no references");
        int left = Interlocked.Add(ref _pages[folio.Pfn].Refcount, -refs);
        Debug.Assert(left >= 0, "folio refcount underflow");
        return left == 0;
    }

    /// <summary>
    /// Linux <c>free_frozen_pages</c> for a folio whose last reference <see cref="PutTestZero"/>
    /// dropped: the same checks as <see cref="Free(Folio)"/>, then the block goes back.
    /// </summary>
    /// <exception cref="BadFolioException">The folio is still mapped, pinned or queued; nothing changed.</exception>
    internal void FreeFrozen(Folio folio)
    {
        uint pfn = folio.Pfn;
        int order = folio.Order;
        if (folio.ArenaId != _id || _pages == null)
            ThrowForeignFolio(folio);
        if (!IsFreeable(_pages + pfn, order, refs: 0))
        {
            // The diagnosis reads the state as a live folio's: show it one reference.
            _pages[pfn].Refcount = 1;
            try
            {
                ThrowNotFreeable(pfn, order);
            }
            finally
            {
                _pages[pfn].Refcount = 0;
            }
        }

        DebugVm.CheckFolio(this, pfn, order, frozen: true);
        ReleaseBlock(pfn, order);
    }

    /// <summary>
    /// The cheap check before a free (Linux <c>page_expected_state</c>): one combined test of the
    /// head's and page[1]'s words, no branches per field. The detailed diagnosis runs only when it
    /// fails. Page[2] is read only for large-rmappable folios, the only ones a deferred-split queue
    /// takes (Linux <c>folio_unqueue_deferred_split</c> tests the same flag first), so freeing any
    /// other folio touches two cache lines, not three.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsFreeable(PageDescriptor* head, int order, ulong checkedFlags = FlagsCheckedAtFree, int refs = 1)
    {
        ulong expectedFlags = order > 0 ? (ulong)PageFlags.Head : 0;
        bool ok = (head->CompoundHead == 0) & (head->Refcount == refs) & (head->Mapcount == PageDescriptor.NoMapcount)
            & ((head->Flags & (checkedFlags | (ulong)PageFlags.Head)) == expectedFlags);
        if (order == 0)
            return ok;

        PageDescriptor* second = head + 1;
        ok &= (second->FolioOrder == order)
            & (second->EntireMapcount == -1) & (second->LargeMapcount == -1)
            & (second->NrPagesMapped == 0) & (second->Pincount == 0);
        if (order >= 2 && second->IsLargeRmappable)
            ok &= head[2].DeferredQueue == 0;
        return ok;
    }

    /// <summary>
    /// Releases a checked, frozen folio's block (Linux <c>free_frozen_pages</c>): to the calling
    /// CPU's cache with its compound layout kept, draining a batch when the cache reaches its high
    /// watermark; or, for uncached orders and a busy cache, to the buddy core. Every call it makes
    /// is its last act, so inlined into <see cref="Free(Folio)"/> it keeps that frame small.
    /// </summary>
    /// <returns>Whether the block joined a per-CPU list (the trace's <c>toPerCpuCache</c>).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool FreeBlock(uint pfn, int order)
    {
        if (((_perCpuOrders >> order) & 1) != 0)
        {
            PerCpuPages* pcp = _perCpu + (CurrentCpu.Id & _perCpuMask);
            if (pcp->Lock.TryEnter())
            {
                // Frozen under the lock: once it is on the list another thread may take it.
                CompoundPage.Freeze(_pages + pfn, order);
                pcp->Lists[order].AddHead(_pages, pfn);
                pcp->Count += 1 << order;
                pcp->Frees++;
                if (pcp->Count < pcp->High)
                {
                    pcp->Lock.Exit();
                    return true;
                }

                DrainAndUnlock(pcp, order);
                return true;
            }

            CurrentCpu.Forget();
        }

        FreeBlockToZone(pfn, order);
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FreeBlockToZone(uint pfn, int order)
    {
        PageDescriptor* head = _pages + pfn;
        CompoundPage.ClearTails(head, order);
        *head = PageDescriptor.Pristine;
        _zone.Lock.Enter();
        _zone.FreeOneLocked(pfn, order);
        _zone.Frees++;
        _zone.Lock.Exit();
    }

    // ---------------------------------------------------------------- per-CPU caches

    /// <summary>
    /// Returns every block held by every per-CPU cache to the buddy core, where they merge (Linux
    /// <c>drain_all_pages</c>). After it, with no folio live, the buddy core holds the whole arena
    /// as max-order blocks.
    /// </summary>
    public void DrainPerCpuCaches()
    {
        ThrowIfDisposed();
        for (int cpu = 0; cpu <= _perCpuMask; cpu++)
        {
            PerCpuPages* pcp = _perCpu + cpu;
            pcp->Lock.Enter();
            int drained = pcp->Count > 0 ? DrainLocked(pcp, 0, all: true) : 0;
            pcp->Lock.Exit();
            if (drained > 0 && LargeFoliosEventSource.IsOn)
                LargeFoliosEventSource.Log.PerCpuDrain(_id, cpu, drained);
        }
    }

    /// <summary>
    /// Moves blocks from a per-CPU set to the buddy core (Linux <c>free_pcppages_bulk</c>): at
    /// least a batch of pages, the coldest (list tail) first, beginning with the list of
    /// <paramref name="startOrder"/> and moving round-robin to the next non-empty list; repeated
    /// until the set is below its high watermark, or empty when <paramref name="all"/>. Tails are
    /// cleared under the set's lock only; the zone lock covers just the merges.
    /// </summary>
    /// <returns>The pages moved.</returns>
    private int DrainLocked(PerCpuPages* pcp, int startOrder, bool all)
    {
        Debug.Assert(pcp->Lock.IsHeld);
        int before = pcp->Count;
        uint* pfns = stackalloc uint[MaxBlocksPerBatch];
        byte* orders = stackalloc byte[MaxBlocksPerBatch];
        int order = startOrder;

        while (all ? pcp->Count > 0 : pcp->Count >= pcp->High)
        {
            int toFree = pcp->Batch;
            int taken = 0;
            while (taken < MaxBlocksPerBatch && pcp->Count > 0 && (all || toFree > 0))
            {
                while (pcp->Lists[order].IsEmpty)
                    order = order == PageGeometry.PmdOrder ? 0 : order + 1;

                uint pfn = pcp->Lists[order].RemoveTail(_pages);
                pcp->Count -= 1 << order;
                toFree -= 1 << order;
                pfns[taken] = pfn;
                orders[taken] = (byte)order;
                taken++;
            }

            for (int i = 0; i < taken; i++)
            {
                PageDescriptor* head = _pages + pfns[i];
                CompoundPage.ClearTails(head, orders[i]);
                *head = PageDescriptor.Pristine;
            }

            _zone.Lock.Enter();
            for (int i = 0; i < taken; i++)
                _zone.FreeOneLocked(pfns[i], orders[i]);
            _zone.Lock.Exit();
        }

        DebugVm.CheckPerCpuSetLocked(this, pcp);
        return before - pcp->Count;
    }

    // ---------------------------------------------------------------- statistics and checks

    /// <summary>
    /// Folios this arena has handed out since it was created (Linux <c>pgalloc</c>, counted per
    /// folio): the per-CPU sets' counts plus the buddy core's. A racy sum, as vmstat's.
    /// </summary>
    public long Allocations => SumCounters(allocations: true);

    /// <summary>Folios freed into this arena since it was created (Linux <c>pgfree</c>, per folio); racy, as <see cref="Allocations"/>.</summary>
    public long Frees => SumCounters(allocations: false);

    private long SumCounters(bool allocations)
    {
        ThrowIfDisposed();
        long sum = Volatile.Read(ref allocations ? ref _zone.Allocations : ref _zone.Frees);
        for (int cpu = 0; cpu <= _perCpuMask; cpu++)
            sum += Volatile.Read(ref allocations ? ref _perCpu[cpu].Allocations : ref _perCpu[cpu].Frees);
        return sum;
    }

    /// <summary>
    /// Writes the buddy core's free blocks per order as one <c>BuddyFreeArea</c> event per order,
    /// all with one snapshot number, when a session listens (a trace's /proc/buddyinfo over time).
    /// Every arena writes one when a session enables the provider.
    /// </summary>
    public void TraceFreeAreas() => TraceFreeAreas(LargeFoliosEventSource.Log);

    /// <summary>
    /// <see cref="TraceFreeAreas()"/> through <paramref name="log"/>: the provider's enable command
    /// can arrive inside its own constructor (a session that was already running), before
    /// <see cref="LargeFoliosEventSource.Log"/> is assigned.
    /// </summary>
    internal void TraceFreeAreas(LargeFoliosEventSource log)
    {
        if (!LargeFoliosEventSource.IsOn || !log.IsEnabled(EventLevel.Informational, LargeFoliosEventSource.Keywords.Buddy) || IsDisposed)
            return;
        BuddyInfo info;
        try
        {
            info = GetBuddyInfo();
        }
        catch (ObjectDisposedException)
        {
            return;   // disposed on another thread since the check
        }

        long snapshot = Interlocked.Increment(ref s_freeAreaSnapshots);
        for (int order = 0; order <= info.MaxOrder; order++)
            log.BuddyFreeArea(_id, snapshot, order, info.FreeBlocks(order));
    }

    private static long s_freeAreaSnapshots;

    /// <summary>A consistent snapshot of the buddy core's free blocks per order (taken under the zone lock).</summary>
    public BuddyInfo GetBuddyInfo()
    {
        ThrowIfDisposed();
        var freeBlocks = new long[_maxOrder + 1];
        _zone.Lock.Enter();
        for (int order = 0; order <= _maxOrder; order++)
            freeBlocks[order] = _zone.NrFree(order);
        _zone.Lock.Exit();
        return new BuddyInfo(freeBlocks);
    }

    /// <summary>
    /// Walks the whole arena and checks every invariant: free lists against descriptors, per-CPU
    /// lists, alignment, no overlap, the layout of every live folio, and free + cached + live ==
    /// total. Takes every lock; no other thread may allocate, free or split meanwhile.
    /// </summary>
    /// <exception cref="ArenaCorruptionException">An invariant is broken; the message names the PFN.</exception>
    public void Validate()
    {
        ThrowIfDisposed();
        ArenaValidator.Validate(this);
    }

    // ---------------------------------------------------------------- lifetime

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
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
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

    [DoesNotReturn]
    private void ThrowForeignFolio(Folio folio)
    {
        ThrowIfDisposed();
        if (folio.IsNull)
            ThrowHelper.ThrowBadFolio("The folio handle is empty (default(Folio)); expected a folio allocated from this arena.", BadFolioReason.NullFolio, -1, -1);
        ThrowHelper.ThrowBadFolio(
            $"Folio at PFN 0x{folio.Pfn:x} order {folio.Order} belongs to another arena; expected a folio of this arena.",
            BadFolioReason.WrongArena, folio.Pfn, folio.Order);
    }

    [DoesNotReturn]
    private void ThrowNotInArena(void* address)
    {
        nuint start = (nuint)_memory;
        ThrowHelper.ThrowBadFolio(
            $"Address 0x{(nuint)address:x} is outside this arena [0x{start:x}, 0x{start + _memoryBytes:x}).",
            BadFolioReason.NotInArena, -1, -1);
    }

    /// <summary>The detailed diagnosis after <see cref="IsFreeable"/> failed (Linux <c>bad_page</c> reasons).</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNotFreeable(uint pfn, int order, ulong checkedFlags = FlagsCheckedAtFree)
    {
        ref PageDescriptor head = ref _pages[pfn];
        string where = $"folio at PFN 0x{pfn:x}{AddressText(pfn)} order {order}";
        if (head.IsTail)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot use {where}: the page is a tail of the folio at PFN 0x{head.HeadPfn:x}; expected a head page.",
                BadFolioReason.TailPage, pfn, order);
        }

        if (head.HasPageType || head.Refcount <= 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot use {where}: the page is already free (refcount {head.Refcount}); expected a live folio (double free?).",
                BadFolioReason.AlreadyFree, pfn, order);
        }

        int actual = ActualOrder(pfn);
        if (actual != order)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot use {where}: the folio there has order {actual}; expected order {order} (a handle kept across a split?).",
                BadFolioReason.OrderMismatch, pfn, order);
        }

        if (head.Refcount != 1)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free {where}: it holds {head.Refcount} references; expected exactly 1 (use Put to drop a shared reference).",
                BadFolioReason.StillReferenced, pfn, order);
        }

        if ((head.Flags & checkedFlags) != 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free {where}: flags 0x{head.Flags:x} have PG_locked or PG_lru set; expected the folio unlocked and off every LRU list.",
                BadFolioReason.LockedOrOnLru, pfn, order);
        }

        ThrowIfMappedOrQueued(pfn, order, where);
        throw new UnreachableException($"The free check failed for {where}, but no reason was found.");
    }

    private void ThrowIfMappedOrQueued(uint pfn, int order, string where)
    {
        ref PageDescriptor head = ref _pages[pfn];
        if (head.Mapcount != PageDescriptor.NoMapcount)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free or split {where}: its head page has mapcount word 0x{head.PageTypeWord:x8}; expected -1 (unmapped).",
                BadFolioReason.Mapped, pfn, order);
        }

        if (order == 0)
            return;

        ref PageDescriptor second = ref _pages[pfn + 1];
        if (second.EntireMapcount != -1 || second.LargeMapcount != -1 || second.NrPagesMapped != 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free or split {where}: entire_mapcount {second.EntireMapcount}, large_mapcount {second.LargeMapcount}, nr_pages_mapped {second.NrPagesMapped}; expected -1, -1, 0 (unmapped).",
                BadFolioReason.Mapped, pfn, order);
        }

        if (second.Pincount != 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free or split {where}: pincount {second.Pincount}; expected 0.",
                BadFolioReason.Pinned, pfn, order);
        }

        if (order >= 2 && second.IsLargeRmappable && _pages[pfn + 2].DeferredQueue != 0)
        {
            ThrowHelper.ThrowBadFolio(
                $"Cannot free or split {where}: it is on deferred-split queue {_pages[pfn + 2].DeferredQueue}; expected it dequeued first.",
                BadFolioReason.OnDeferredList, pfn, order);
        }
    }
}
