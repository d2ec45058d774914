using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// One simulated machine: its memory (a buddy <see cref="BuddyAllocator.Arena"/>), the THP settings
/// of its sysfs (<see cref="Policy"/>), its mTHP and vmstat counters, the shared zero pages, and the
/// deferred-split queue. Address spaces (<see cref="AddressSpace"/>, Linux's <c>mm_struct</c>) are
/// created on it and share all of these, as processes share one kernel.
/// </summary>
/// <remarks>
/// <para>The machine does not own the arena: dispose every address space, then the machine, then
/// the arena.</para>
/// <para>Page contents are modelled as far as the kernel looks at them: whether a page is all
/// zeros (Linux <c>pages_identical(page, ZERO_PAGE(0))</c>, asked by a split before it remaps a
/// page and by the underused-THP shrinker). With memory behind the arena the bytes answer; in a
/// metadata-only arena one bit per page does, set by <see cref="AddressSpace.Write"/> and cleared
/// when a folio is zeroed.</para>
/// </remarks>
public sealed unsafe class Machine : IDisposable
{
    private readonly Arena _arena;
    private readonly PageDescriptor* _pages;
    private readonly Lock _lock = new();
    private readonly ulong* _nonZero;
    private readonly uint _zeroPfn;
    private AddressSpace?[] _spaces = new AddressSpace?[8];
    private int _nextSpaceId = 1;
    private int _liveSpaces;
    private Folio _hugeZeroFolio;
    private bool _disposed;

    /// <summary>Creates a machine over <paramref name="arena"/>, taking the 4 KiB zero page from it.</summary>
    /// <exception cref="OutOfMemoryException">The arena has no free page for the zero page.</exception>
    public Machine(Arena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        _arena = arena;
        _pages = arena.Pages;
        Policy = new ThpPolicy();
        MthpStats = new MthpStats();
        Events = new VmEvents();
        DeferredSplitQueue = new DeferredSplitQueue(arena, MthpStats, Events);
        if (!arena.HasMemory)
        {
            nuint words = (nuint)((arena.TotalPages + 63) >> 6);
            _nonZero = (ulong*)NativeMemory.AllocZeroed(words, sizeof(ulong));
        }

        Folio zero = arena.Allocate(0);
        ClearContents(zero.Pfn, 1);
        _zeroPfn = zero.Pfn;
        FaultPathMetrics.Register(this);
    }

    /// <summary>The memory every address space of this machine draws from.</summary>
    public Arena Arena => _arena;

    /// <summary>The THP settings (sysfs <c>transparent_hugepage/</c>).</summary>
    public ThpPolicy Policy { get; }

    /// <summary>The per-size mTHP counters (sysfs <c>hugepages-&lt;size&gt;kB/stats/</c>).</summary>
    public MthpStats MthpStats { get; }

    /// <summary>The event counters (/proc/vmstat and the model's own totals).</summary>
    public VmEvents Events { get; }

    /// <summary>The deferred-split queue (one per node in Linux; this machine has one node).</summary>
    public DeferredSplitQueue DeferredSplitQueue { get; }

    /// <summary>The PFN of the shared 4 KiB zero page (Linux <c>my_zero_pfn</c>).</summary>
    public uint ZeroPfn => _zeroPfn;

    /// <summary>The huge zero page, once a read fault has needed it; null before.</summary>
    public Folio? HugeZeroFolio
    {
        get
        {
            Folio folio = _hugeZeroFolio;
            return folio.IsNull ? null : folio;
        }
    }

    /// <summary>Pages holding page tables in every live address space (Linux NR_PAGETABLE); racy, as vmstat.</summary>
    public long PageTablePages
    {
        get
        {
            long pages = 0;
            lock (_lock)
            {
                foreach (AddressSpace? space in _spaces)
                    pages += space?.PageTablePages ?? 0;
            }

            return pages;
        }
    }

    /// <summary>Address spaces alive on this machine.</summary>
    public int AddressSpaceCount => Volatile.Read(ref _liveSpaces);

    /// <summary>Creates an empty address space (Linux <c>mm_alloc</c>): no VMAs, a PGD.</summary>
    /// <exception cref="OutOfMemoryException">The arena has no free page for the PGD.</exception>
    public AddressSpace CreateAddressSpace()
    {
        ThrowIfDisposed();
        lock (_lock)
        {
            int id = _nextSpaceId++;
            var space = new AddressSpace(this, (uint)id);
            if (id >= _spaces.Length)
                Array.Resize(ref _spaces, Math.Max(id + 1, _spaces.Length * 2));
            Volatile.Write(ref _spaces[id], space);
            _liveSpaces++;
            return space;
        }
    }

    /// <summary>
    /// Runs the deferred-split shrinker once (Linux <c>deferred_split_scan</c>) over at most
    /// <paramref name="nrToScan"/> queued folios: a partially mapped folio is split to order 0,
    /// pieces nobody maps are freed and zero-filled ones still mapped become zero-page mappings; an
    /// underused PMD THP (see <see cref="ThpPolicy.MaxPtesNone"/>) is split the same way; any other
    /// folio leaves the queue unsplit. A folio whose split fails stays queued.
    /// </summary>
    /// <returns>How many folios were split.</returns>
    public long ShrinkDeferredSplit(long nrToScan = long.MaxValue)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(nrToScan);
        DeferredSplitQueue queue = DeferredSplitQueue;
        var taken = new List<uint>();
        queue.Lock.Enter();
        for (uint pfn = queue.First; pfn != PageDescriptor.Nil && nrToScan > 0; nrToScan--)
        {
            uint next = _pages[pfn + 2].DeferredNext;
            if (TryGetReference(pfn))
            {
                queue.TakeForScanLocked(pfn);
                taken.Add(pfn);
            }
            else
            {
                // Lost a race with the last put: the freer finds it unqueued.
                queue.UnqueueLocked(pfn, _pages[pfn + 1].FolioOrder);
            }

            pfn = next;
        }

        queue.Lock.Exit();

        long split = 0;
        long forgotten = 0;
        foreach (uint pfn in taken)
        {
            PageDescriptor* head = _pages + pfn;
            int order = head[1].FolioOrder;
            bool didSplit = false;
            bool partially = (head[1].Flags & (ulong)FolioFlags.PartiallyMapped) != 0;
            bool underused = !partially && IsUnderused(pfn, order);
            if (partially || underused)
            {
                AddressSpace? owner = OwnerOf(pfn);
                if (owner == null)
                {
                    CountSplitFailed(pfn, order, 0, FolioSplitRefusal.NotMapped);   // exited: folio_get_anon_vma fails
                }
                else if (owner.SplitMappedFolio(_arena.HandleOf(pfn, order), 0, uint.MaxValue) == 0)
                {
                    didSplit = true;
                    split++;
                    if (underused)
                        Events.Count(VmEvent.ThpUnderusedSplitPage);
                }
            }

            if (!didSplit)
            {
                queue.Lock.Enter();
                if ((_pages[pfn + 1].Flags & (ulong)FolioFlags.PartiallyMapped) != 0)
                {
                    queue.RequeueScannedLocked(pfn);
                }
                else
                {
                    queue.ForgetScannedLocked(pfn);
                    forgotten++;
                }
                queue.Lock.Exit();
            }

            ReleaseFolioAt(pfn, 1);
        }

        if (LargeFoliosEventSource.IsOn)
            LargeFoliosEventSource.Log.DeferredSplitScan(_arena.Id, taken.Count, split, taken.Count - split - forgotten, queue.Length);
        return split;
    }

    /// <summary>
    /// Checks every invariant of the machine: the arena, every address space (VMAs, page tables,
    /// rmap counts of every mapped folio, its counters), the deferred-split queue, and that
    /// <c>nr_anon</c> per size equals the anonymous folios alive. Call it with no other thread
    /// using the machine.
    /// </summary>
    /// <exception cref="FaultPathCorruptionException">The first broken invariant of the fault path.</exception>
    public void Validate()
    {
        ThrowIfDisposed();
        _arena.Validate();
        foreach (AddressSpace? space in _spaces)
            space?.Validate();
        MachineValidator.Validate(this);
    }

    /// <summary>Frees the zero pages. Every address space must have been disposed.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        if (Volatile.Read(ref _liveSpaces) != 0)
            throw new InvalidOperationException($"Cannot dispose a machine with {_liveSpaces} address spaces alive; dispose them first.");
        _disposed = true;
        FaultPathMetrics.Unregister(this);
        if (!_arena.IsDisposed)
        {
            _arena.Free(_arena.HandleOf(_zeroPfn, 0));
            if (!_hugeZeroFolio.IsNull)
                _arena.Free(_hugeZeroFolio);
        }

        if (_nonZero != null)
            NativeMemory.Free(_nonZero);
        Events.Dispose();
    }

    // ---------------------------------------------------------------- for address spaces

    internal PageDescriptor* Pages => _pages;

    internal void Unregister(AddressSpace space)
    {
        lock (_lock)
        {
            Volatile.Write(ref _spaces[space.Id], null);
            _liveSpaces--;
        }
    }

    /// <summary>The address space an anonymous folio's mapping word names (Linux's anon_vma walk, with no sharing).</summary>
    internal AddressSpace? OwnerOf(uint headPfn)
    {
        ulong mapping = _pages[headPfn].Mapping;
        if ((mapping & PageDescriptor.MappingAnon) == 0)
            return null;
        ulong id = mapping >> 1;
        AddressSpace?[] spaces = Volatile.Read(ref _spaces);
        return id < (ulong)spaces.Length ? Volatile.Read(ref spaces[id]) : null;
    }

    /// <summary>The huge zero page, allocated (and zeroed) on first use (Linux <c>mm_get_huge_zero_folio</c>).</summary>
    /// <returns>False when the arena has no free PMD-sized block for it.</returns>
    internal bool TryGetHugeZeroFolio(out Folio folio)
    {
        folio = _hugeZeroFolio;
        if (!folio.IsNull)
            return true;
        lock (_lock)
        {
            if (_hugeZeroFolio.IsNull)
            {
                if (!_arena.TryAllocate(PageGeometry.PmdOrder, out Folio fresh))
                    return false;
                ClearContents(fresh.Pfn, 1 << PageGeometry.PmdOrder);
                Events.Count(VmEvent.ThpZeroPageAlloc);
                _hugeZeroFolio = fresh;
            }

            folio = _hugeZeroFolio;
            return true;
        }
    }

    /// <summary>Counts a split of a folio of <paramref name="order"/> or its failure (<c>split</c> / <c>split_failed</c>, and vmstat's <c>thp_split_page</c> / <c>_failed</c> at the PMD order).</summary>
    internal void CountSplit(int order, bool failed)
    {
        if (order == PageGeometry.PmdOrder)
            Events.Count(failed ? VmEvent.ThpSplitPageFailed : VmEvent.ThpSplitPage);
        MthpStats.Count(order, failed ? MthpStatItem.SplitFailed : MthpStatItem.Split);
    }

    /// <summary>Counts a failed split (<see cref="CountSplit"/>) and says why in the trace.</summary>
    internal void CountSplitFailed(uint pfn, int order, int newOrder, FolioSplitRefusal reason)
    {
        CountSplit(order, failed: true);
        if (LargeFoliosEventSource.IsOn)
            LargeFoliosEventSource.Log.FolioSplitRefused(_arena.Id, pfn, order, newOrder, (int)reason);
    }

    /// <summary>Linux <c>folio_try_get</c>: a reference unless the count already reached zero.</summary>
    internal bool TryGetReference(uint headPfn)
    {
        ref int refcount = ref _pages[headPfn].Refcount;
        while (true)
        {
            int refs = Volatile.Read(ref refcount);
            if (refs <= 0)
                return false;
            if (Interlocked.CompareExchange(ref refcount, refs + 1, refs) == refs)
                return true;
        }
    }

    /// <summary>
    /// Linux <c>folio_put_refs</c> for an anonymous folio: the last reference unqueues it from
    /// deferred split, gives back its <c>nr_anon</c> and frees it (<c>__folio_put</c>,
    /// <c>free_pages_prepare</c>).
    /// </summary>
    internal void ReleaseFolio(Folio folio, int refs)
    {
        if (!_arena.PutTestZero(folio, refs))
            return;

        uint pfn = folio.Pfn;
        int order = folio.Order;
        PageDescriptor* head = _pages + pfn;
        if (order >= 2 && head[1].IsLargeRmappable)
            DeferredSplitQueue.Unqueue(pfn, order);
        if ((head->Mapping & PageDescriptor.MappingAnon) != 0)
            MthpStats.Add(order, MthpStatItem.NrAnon, -1);
        head->Flags &= ~(ulong)(PageFlags.SwapBacked | PageFlags.Uptodate | PageFlags.Dirty);
        _arena.FreeFrozen(folio);
    }

    /// <summary>
    /// <see cref="ReleaseFolio"/> of the folio now headed at <paramref name="headPfn"/>, whatever its
    /// order: after a split, the caller's reference belongs to the piece that kept the old head.
    /// </summary>
    internal void ReleaseFolioAt(uint headPfn, int refs)
    {
        AnonRmap.HeadOf(_pages, headPfn, out int order);
        ReleaseFolio(_arena.HandleOf(headPfn, order), refs);
    }

    // ---------------------------------------------------------------- page contents

    /// <summary>Zeroes pages (Linux <c>folio_zero_user</c>): a memset with memory, the content bits without.</summary>
    internal void ClearContents(uint pfn, int pages)
    {
        if (_nonZero == null)
        {
            NativeMemory.Clear(_arena.BaseAddress + ((nuint)pfn << PageGeometry.PageShift), (nuint)pages << PageGeometry.PageShift);
            return;
        }

        for (uint p = pfn; p < pfn + (uint)pages;)
        {
            int bit = (int)(p & 63);
            int n = Math.Min(64 - bit, (int)(pfn + (uint)pages - p));
            ulong mask = n == 64 ? ulong.MaxValue : ((1UL << n) - 1) << bit;
            ref ulong word = ref _nonZero[p >> 6];
            if ((Volatile.Read(ref word) & mask) != 0)
                Interlocked.And(ref word, ~mask);
            p += (uint)n;
        }
    }

    /// <summary>A store of <paramref name="value"/> to byte <paramref name="offset"/> of page <paramref name="pfn"/>.</summary>
    internal void Store(uint pfn, int offset, byte value)
    {
        if (_nonZero == null)
        {
            _arena.BaseAddress[((nuint)pfn << PageGeometry.PageShift) + (nuint)offset] = value;
            return;
        }

        ulong bit = 1UL << (int)(pfn & 63);
        if (value != 0 && (Volatile.Read(ref _nonZero[pfn >> 6]) & bit) == 0)
            Interlocked.Or(ref _nonZero[pfn >> 6], bit);
    }

    /// <summary>A load of byte <paramref name="offset"/> of page <paramref name="pfn"/>; metadata-only, 0 or 1 (whether the page was written non-zero).</summary>
    internal byte Load(uint pfn, int offset)
    {
        if (_nonZero == null)
            return _arena.BaseAddress[((nuint)pfn << PageGeometry.PageShift) + (nuint)offset];
        return (byte)((Volatile.Read(ref _nonZero[pfn >> 6]) >> (int)(pfn & 63)) & 1);
    }

    /// <summary>Linux <c>pages_identical(page, ZERO_PAGE(0))</c>.</summary>
    internal bool IsZeroFilled(uint pfn)
    {
        if (_nonZero == null)
        {
            var bytes = new ReadOnlySpan<byte>(_arena.BaseAddress + ((nuint)pfn << PageGeometry.PageShift), PageGeometry.PageSize);
            return !bytes.ContainsAnyExcept((byte)0);
        }

        return ((Volatile.Read(ref _nonZero[pfn >> 6]) >> (int)(pfn & 63)) & 1) == 0;
    }

    /// <summary>Linux <c>thp_underused</c>: more than max_ptes_none zero-filled pages in a PMD THP.</summary>
    private bool IsUnderused(uint pfn, int order)
    {
        int maxNone = Policy.MaxPtesNone;
        int nr = 1 << order;
        if (order < PageGeometry.PmdOrder || maxNone == nr - 1)
            return false;
        int zero = 0;
        int filled = 0;
        for (int i = 0; i < nr; i++)
        {
            if (IsZeroFilled(pfn + (uint)i))
            {
                if (++zero > maxNone)
                    return true;
            }
            else if (++filled >= nr - maxNone)
            {
                return false;
            }
        }

        return false;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed || _arena.IsDisposed, this);
}
