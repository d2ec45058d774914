using System;
using System.Collections.Generic;
using System.Threading;
using LargeFolios.BuddyAllocator;

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
/// zeros (<see cref="PageContents"/>).</para>
/// </remarks>
public sealed unsafe partial class Machine : IDisposable
{
    private readonly Arena _arena;
    private readonly PageDescriptor* _pages;
    private readonly Lock _lock = new();
    private readonly uint _zeroPfn;
    private readonly DeferredSplitShrinker _shrinker;
    private AddressSpace?[] _spaces = new AddressSpace?[8];
    private int _nextSpaceId = 1;
    private int _liveSpaces;
    private Folio _hugeZeroFolio;
    private bool _disposed;

    /// <summary>Creates a machine over <paramref name="arena"/>, taking the 4 KiB zero page from it.</summary>
    /// <exception cref="OutOfMemoryException">The arena has no free page for the zero page.</exception>
    /// <exception cref="HostMemoryException">The arena is metadata-only and its host-memory bound refused the page-content bits.</exception>
    public Machine(Arena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        _arena = arena;
        _pages = arena.Pages;
        Policy = new ThpPolicy();
        MthpStats = new MthpStats();
        Events = new VmEvents();
        DeferredSplitQueue = new DeferredSplitQueue(arena, MthpStats, Events);
        Contents = new PageContents(arena);
        _shrinker = new DeferredSplitShrinker(this);
        Folio zero;
        try
        {
            zero = arena.Allocate(0);
        }
        catch (OutOfMemoryException)
        {
            Contents.Dispose();   // no machine comes of it: its bits go back to the host and the bound
            throw;
        }

        Contents.Clear(zero.Pfn, 1);
        _zeroPfn = zero.Pfn;
        FaultPathMetrics.Register(this);
    }

    /// <summary>The memory every address space of this machine draws from.</summary>
    public Arena Arena => _arena;

    /// <summary>The THP settings (sysfs <c>transparent_hugepage/</c>).</summary>
    public ThpPolicy Policy { get; }

    /// <summary><c>vm.overcommit_memory</c>: <see cref="OvercommitPolicy.Guess"/>, the kernel's default, unless set.</summary>
    public OvercommitPolicy Overcommit { get; set; }

    /// <summary>The most pages one charge may take under <see cref="Overcommit"/> (<c>totalram_pages() + total_swap_pages</c> for the heuristic).</summary>
    internal ulong ChargeLimitPages => Overcommit == OvercommitPolicy.Always ? ulong.MaxValue : (ulong)_arena.TotalPages;

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
        return _shrinker.Scan(nrToScan);
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
        var folios = new Dictionary<uint, FolioTally>();
        foreach (AddressSpace space in LiveAddressSpaces())
            space.CollectForValidation(folios);
        AddressSpaceValidator.CheckFolios(_pages, folios, this);
        MachineValidator.Validate(this, folios);
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

        Contents.Dispose();
        Events.Release();
    }

    // ---------------------------------------------------------------- for address spaces

    internal PageDescriptor* Pages => _pages;

    /// <summary>What the kernel knows of pages' bytes: whether they are all zeros.</summary>
    internal PageContents Contents { get; }

    internal void Unregister(AddressSpace space)
    {
        AnonVmas.Leave(space);
        lock (_lock)
        {
            Volatile.Write(ref _spaces[space.Id], null);
            _liveSpaces--;
        }
    }

    /// <summary>The machine's anon_vmas: which processes can map a folio (the rmap walk's scope).</summary>
    internal AnonVmaRegistry AnonVmas { get; } = new();

    /// <summary>The live address spaces, in id order (a copy).</summary>
    internal List<AddressSpace> LiveAddressSpaces()
    {
        var live = new List<AddressSpace>();
        lock (_lock)
        {
            foreach (AddressSpace? space in _spaces)
            {
                if (space != null)
                    live.Add(space);
            }
        }

        return live;
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
                Contents.Clear(fresh.Pfn, 1 << PageGeometry.PmdOrder);
                Events.Count(VmEvent.ThpZeroPageAlloc);
                _hugeZeroFolio = fresh;
            }

            folio = _hugeZeroFolio;
            return true;
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed || _arena.IsDisposed, this);
}
