using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>The fault handler (Linux 6.18 mm/memory.c and mm/huge_memory.c).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>A present user PTE of the zero page (Linux <c>pte_mkspecial(pfn_pte(my_zero_pfn(addr), vm_page_prot))</c>).</summary>
    private const PteFlags ZeroPteFlags = PteFlags.Present | PteFlags.User | PteFlags.Accessed | PteFlags.Special;

    /// <summary>A folio's PTE in a VM_WRITE VMA after a write fault (<c>pte_mkwrite(pte_mkdirty(entry))</c>).</summary>
    private const PteFlags WritableFlags = PteFlags.Write | PteFlags.Dirty;

    private const PteFlags FolioPteFlags = PteFlags.Present | PteFlags.User | PteFlags.Accessed;

    /// <summary>Orders below the PMD order that alloc_anon_folio considers (<c>BIT(PMD_ORDER) - 1</c>).</summary>
    private const uint PteOrders = (1u << PageGeometry.PmdOrder) - 1;

    private static readonly FaultResult Retry = new((FaultKind)(-1));
    private static readonly FaultResult Fallback = new((FaultKind)(-2));

    /// <summary>The PMD THP could not be allocated: the PTE level goes on, and its result records the attempt.</summary>
    private static readonly FaultResult PmdAllocationFallback = new((FaultKind)(-3));

    /// <summary>The zero page's PTE.</summary>
    internal Pte ZeroPte => Pte.Make(_machine.ZeroPfn, ZeroPteFlags);

    /// <summary>
    /// <c>handle_mm_fault</c> with the mmap lock held for read: the access check, then
    /// <c>__handle_mm_fault</c> until a branch handles the fault. A branch that lost a race
    /// (another thread changed the entry first) returns to the top, as the re-executed access
    /// would fault again.
    /// </summary>
    internal FaultResult FaultLocked(ulong address, FaultAccess access)
    {
        if (!_vmas.TryFind(address, out Vma vma))
            ThrowSegmentationFault(address, access, "no VMA covers it");
        bool write = access == FaultAccess.Write;
        if (write ? (vma.Flags & VmaFlags.Write) == 0 : (vma.Flags & (VmaFlags.Read | VmaFlags.Write | VmaFlags.Exec)) == 0)
            ThrowSegmentationFault(address, access, $"the VMA 0x{vma.Start:x}..0x{vma.End:x} does not allow it ({vma.Flags})");

        bool traced = LargeFoliosEventSource.IsOn;
        if (traced)
            TraceFaultStart(address, write);
        FaultResult result = HandleMmFaultRetrying(vma, address, write);
        Account(result, 1);
        if (traced)
            TraceFaultStop(address, result);
        return result;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TraceFaultStart(ulong address, bool write) =>
        LargeFoliosEventSource.Log.FaultStart(_arena.Id, (int)_id, address, write);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TraceFaultStop(ulong address, FaultResult result) =>
        LargeFoliosEventSource.Log.FaultStop(_arena.Id, (int)_id, address, (int)result.Kind, result.Order, result.OrdersTried, result.Fallbacks);

    /// <summary>__handle_mm_fault until it does not lose a race: the re-executed access would fault again.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private FaultResult HandleMmFaultRetrying(in Vma vma, ulong address, bool write)
    {
        while (true)
        {
            FaultResult result = HandleMmFault(vma, address, write);
            if (result.Kind >= 0)
                return result;
        }
    }

    /// <summary>
    /// The counters a fault changes outside the locks it took: <c>pgfault</c> and the fault's kind,
    /// and the address space's MM_ANONPAGES (<paramref name="times"/> faults alike, for a caller
    /// that batches them).
    /// </summary>
    private void Account(FaultResult result, int times)
    {
        (VmEvent kind, long pages) = result.Kind switch
        {
            FaultKind.ZeroPage => (VmEvent.ZeroPageFault, 0L),
            FaultKind.HugeZeroPage => (VmEvent.HugeZeroPageFault, 0L),
            FaultKind.Folio => (VmEvent.AnonFolioFault, 1L << result.Order),
            FaultKind.PmdFolio => (VmEvent.PmdFolioFault, 1L << PageGeometry.PmdOrder),
            FaultKind.CopyOnWrite => (VmEvent.CowFault, 1L),
            FaultKind.OutOfMemory => (VmEvent.OomFault, 0L),
            _ => (VmEvent.SpuriousFault, 0L),
        };
        if (times == 1)
            _events.CountFault(kind);
        else
        {
            _events.Add(VmEvent.PgFault, times);
            _events.Add(kind, times);
        }

        if (pages != 0)
            _rss.Add(0, pages * times);
    }

    /// <summary>
    /// Linux <c>__handle_mm_fault</c>: the PMD level first (a PMD THP or the huge zero page when the
    /// PMD entry is none and the PMD order is allowed; a write to a read-only leaf), then
    /// <c>handle_pte_fault</c>.
    /// </summary>
    private FaultResult HandleMmFault(in Vma vma, ulong address, bool write)
    {
        if (_tables.FindPmdEntry(address, allocate: true, out uint pmdTable, out Pte* pmdEntry) != WalkResult.Table)
            return new FaultResult(FaultKind.OutOfMemory);

        Pte pmd = new(Volatile.Read(ref *(ulong*)pmdEntry));
        if (pmd.IsNone && _policy.AllowableOrders(vma.Flags, 1u << PageGeometry.PmdOrder) != 0)
        {
            FaultResult huge = DoHugePmdAnonymousPage(vma, address, write);
            if (huge == PmdAllocationFallback)
                return WithPmdAttempt(HandlePteFault(vma, address, write, pmdTable, pmdEntry));
            if (huge != Fallback)
                return huge;
        }
        else if (pmd.IsLeafPmd)
        {
            if (!write || pmd.IsWritable)
                return new FaultResult(FaultKind.AlreadyMapped);   // huge_pmd_set_accessed
            FaultResult wp = DoHugePmdWpPage(vma, address, pmd);
            if (wp == PmdAllocationFallback)
                return WithPmdAttempt(HandlePteFault(vma, address, write, pmdTable, pmdEntry));
            if (wp != Fallback)
                return wp;
        }

        return HandlePteFault(vma, address, write, pmdTable, pmdEntry);
    }

    /// <summary>
    /// A PTE-level result after the PMD THP could not be allocated: the PMD order was tried and
    /// given up. A lost race (retry) carries nothing; the next pass finds a PTE table and no PMD
    /// attempt, as Linux's re-executed access would.
    /// </summary>
    private static FaultResult WithPmdAttempt(FaultResult pte) =>
        pte.Kind < 0 ? pte : pte with { Fallbacks = pte.Fallbacks + 1, OrdersTried = pte.OrdersTried | (1u << PageGeometry.PmdOrder) };

    /// <summary>
    /// Linux <c>do_huge_pmd_anonymous_page</c>: falls back unless the 2 MiB range lies inside the
    /// VMA (<c>thp_vma_suitable_order</c>). A read maps the huge zero page; a write allocates,
    /// zeroes and maps a PMD THP with a PTE table deposited beside it, and queues it for the
    /// underused-THP shrinker (<c>deferred_split_folio(folio, false)</c>).
    /// </summary>
    private FaultResult DoHugePmdAnonymousPage(in Vma vma, ulong address, bool write)
    {
        ulong haddr = VirtualAddress.PmdAlignDown(address);
        if (haddr < vma.Start || haddr + VirtualAddress.PmdSize > vma.End)
            return Fallback;

        if (!write)
        {
            if (!_machine.TryGetHugeZeroFolio(out Folio zero))
            {
                _events.Count(VmEvent.ThpFaultFallback);
                if (LargeFoliosEventSource.IsOn)
                    LargeFoliosEventSource.Log.FaultFallback(_arena.Id, (int)_id, address, PageGeometry.PmdOrder);
                return Fallback;
            }

            Pte leaf = Pte.Make(zero.Pfn, ZeroPteFlags | PteFlags.Huge);
            switch (_tables.InstallPmdLeaf(haddr, leaf, deposit: true))
            {
                case PmdInstallResult.Installed:
                            return new FaultResult(FaultKind.HugeZeroPage, PageGeometry.PmdOrder);
                case PmdInstallResult.NotNone:
                    return Retry;
                default:
                    return new FaultResult(FaultKind.OutOfMemory);
            }
        }

        if (!TryAllocatePmdFolio(address, out Folio folio))
            return PmdAllocationFallback;

        PageDescriptor* head = _pages + folio.Pfn;
        AnonRmap.AddNew(head, PageGeometry.PmdOrder, _owner, haddr >> PageGeometry.PageShift, byPmd: true, _id);
        Pte entry = Pte.Make(folio.Pfn, FolioPmdFlags(vma));
        var queueIt = new QueueUnderusedHook(_machine, _policy.ShrinkUnderused);
        PmdInstallResult installed = _tables.InstallPmdLeaf(haddr, entry, deposit: true, ref queueIt);
        if (installed != PmdInstallResult.Installed)
        {
            UndoNewRmap(head, PageGeometry.PmdOrder, byPmd: true);
            _arena.Free(folio);
            return installed == PmdInstallResult.NotNone ? Retry : new FaultResult(FaultKind.OutOfMemory);
        }

        CountNewPmdFolio();
        return new FaultResult(FaultKind.PmdFolio, PageGeometry.PmdOrder, OrdersTried: 1u << PageGeometry.PmdOrder);
    }

    /// <summary>
    /// Linux <c>do_huge_pmd_wp_page</c> for the only read-only leaf an anonymous VMA has here, the
    /// huge zero page: <c>do_huge_zero_wp_pmd</c> replaces it with a fresh PMD THP; if none can be
    /// allocated the PMD is split into 512 zero-page PTEs and the fault goes on at the PTE level.
    /// </summary>
    private FaultResult DoHugePmdWpPage(in Vma vma, ulong address, Pte orig)
    {
        ulong haddr = VirtualAddress.PmdAlignDown(address);
        if (orig.IsSpecial && TryAllocatePmdFolio(address, out Folio folio))
        {
            PageDescriptor* head = _pages + folio.Pfn;
            AnonRmap.AddNew(head, PageGeometry.PmdOrder, _owner, haddr >> PageGeometry.PageShift, byPmd: true, _id);
            if (!_tables.TryReplacePmdLeaf(haddr, orig, Pte.Make(folio.Pfn, FolioPmdFlags(vma))))
            {
                UndoNewRmap(head, PageGeometry.PmdOrder, byPmd: true);
                _arena.Free(folio);
                return Retry;
            }

            // do_huge_zero_wp_pmd maps with map_anon_folio_pmd and no deferred_split_folio.
            CountNewPmdFolio();
            return new FaultResult(FaultKind.PmdFolio, PageGeometry.PmdOrder, OrdersTried: 1u << PageGeometry.PmdOrder);
        }

        if (SplitHugePmd(haddr) == PmdSplitResult.OutOfMemory)
        {
            var oom = new FaultResult(FaultKind.OutOfMemory);
            return orig.IsSpecial ? WithPmdAttempt(oom) : oom;
        }

        return orig.IsSpecial ? PmdAllocationFallback : Fallback;
    }

    /// <summary>Linux <c>vma_alloc_anon_folio_pmd</c>: a zeroed PMD-order anonymous folio, or the fallback counted.</summary>
    private bool TryAllocatePmdFolio(ulong address, out Folio folio)
    {
        if (!_arena.TryAllocate(PageGeometry.PmdOrder, out folio, FolioKind.Anonymous))
        {
            _events.Count(VmEvent.ThpFaultFallback);
            _mthp.Count(PageGeometry.PmdOrder, MthpStatItem.AnonFaultFallback);
            if (LargeFoliosEventSource.IsOn)
                LargeFoliosEventSource.Log.FaultFallback(_arena.Id, (int)_id, address, PageGeometry.PmdOrder);
            return false;
        }

        _machine.ClearContents(folio.Pfn, 1 << PageGeometry.PmdOrder);
        return true;
    }

    private void CountNewPmdFolio()
    {
        _events.Count(VmEvent.ThpFaultAlloc);
        _mthp.Count(PageGeometry.PmdOrder, MthpStatItem.AnonFaultAlloc);
        _mthp.Add(PageGeometry.PmdOrder, MthpStatItem.NrAnon, 1);
    }

    /// <summary>Linux <c>handle_pte_fault</c> for an anonymous VMA: a none PTE is <c>do_anonymous_page</c>; a write to a read-only PTE is <c>do_wp_page</c>.</summary>
    private FaultResult HandlePteFault(in Vma vma, ulong address, bool write, uint pmdTable, Pte* pmdEntry)
    {
        // pte_alloc: do_anonymous_page allocates the PTE table before anything else.
        switch (_tables.PteTableOf(pmdTable, pmdEntry, allocate: true, out PteTable table))
        {
            case WalkResult.Table:
                break;
            case WalkResult.PmdLeaf:
                return Retry;   // a racing fault installed a leaf
            default:
                return new FaultResult(FaultKind.OutOfMemory);
        }

        Pte pte = new(Volatile.Read(ref *(ulong*)table.At(address)));
        if (pte.IsNone)
            return DoAnonymousPage(vma, address, write, table);
        if (write && !pte.IsWritable)
            return DoWpPage(vma, address, table, pte);
        return new FaultResult(FaultKind.AlreadyMapped);
    }

    /// <summary>
    /// Linux <c>do_anonymous_page</c>: a read maps the zero page; a write maps a new folio of the
    /// order <see cref="AllocAnonFolio"/> chose, zeroed, after checking under the PTE-table lock that
    /// its PTE range is still none (else another thread won: drop the folio and retry). All its PTEs
    /// are set in one batch, its refcount is one per PTE, and rmap counts it mapped page by page.
    /// </summary>
    private FaultResult DoAnonymousPage(in Vma vma, ulong address, bool write, PteTable table)
    {
        if (!write)
        {
            Pte* slot = table.At(address);
            table.Lock();
            if (!slot->IsNone)
            {
                table.Unlock();
                return Retry;
            }

            *slot = ZeroPte;
            table.Unlock();
            return new FaultResult(FaultKind.ZeroPage);
        }

        if (!AllocAnonFolio(vma, address, table, out Folio folio, out int fallbacks, out uint tried))
            return new FaultResult(FaultKind.OutOfMemory, Fallbacks: fallbacks, OrdersTried: tried);

        int order = folio.Order;
        int nr = 1 << order;
        ulong addr = address & ~(((ulong)nr << PageGeometry.PageShift) - 1);
        Pte* first = table.At(addr);
        table.Lock();
        if (nr == 1 ? !first->IsNone : !PteScan.AllNone(first, nr))
        {
            table.Unlock();
            _arena.Free(folio);
            return Retry;
        }

        PageDescriptor* head = _pages + folio.Pfn;
        if (nr != 1)
            head->Refcount = nr;   // folio_ref_add(folio, nr_pages - 1)
        AnonRmap.AddNew(head, order, _owner, addr >> PageGeometry.PageShift, byPmd: false, _id);
        Pte entry = Pte.Make(folio.Pfn, FolioPteFlags | ((vma.Flags & VmaFlags.Write) != 0 ? WritableFlags : 0));
        if (nr == 1)
            *first = entry;
        else
            PageTableTree.SetPtes(table, addr, entry, nr);
        DebugVm.CheckPteMappedFolio(_pages, folio.Pfn, order, first, addr);
        table.Unlock();

        if (order != 0)
        {
            _mthp.Count(order, MthpStatItem.AnonFaultAlloc);
            _mthp.Add(order, MthpStatItem.NrAnon, 1);
        }

        return new FaultResult(FaultKind.Folio, order, fallbacks, tried);
    }

    /// <summary>
    /// Linux <c>alloc_anon_folio</c>: the allowable orders below the PMD order (policy and VMA
    /// flags), less those whose naturally aligned range leaves the VMA; the highest whose PTE range
    /// is all none (the SIMD scan, unlocked as in Linux: the range is checked again under the lock);
    /// then allocation from that order down, each failure counted as <c>anon_fault_fallback</c>;
    /// finally order 0. The folio is zeroed (skipped in a metadata-only arena but for its content bits).
    /// </summary>
    /// <returns>False when not even an order-0 page is free.</returns>
    private bool AllocAnonFolio(in Vma vma, ulong address, PteTable table, out Folio folio, out int fallbacks, out uint tried)
    {
        fallbacks = 0;
        tried = 1;   // order 0, unless an mTHP order succeeds first
        uint orders = _policy.AllowableOrders(vma.Flags, PteOrders);
        if (orders != 0)
        {
            orders = SuitableOrders(vma, address, orders);
            while (orders != 0)
            {
                int order = BitOperations.Log2(orders);
                ulong addr = address & ~(((ulong)PageGeometry.PageSize << order) - 1);
                if (PteScan.AllNone(table.At(addr), 1 << order))
                    break;
                orders &= ~(1u << order);
            }

            while (orders != 0)
            {
                int order = BitOperations.Log2(orders);
                tried |= 1u << order;
                if (_arena.TryAllocate(order, out folio, FolioKind.Anonymous))
                {
                    tried &= ~1u;
                    // rmap will write every page's descriptor: start fetching them now, so the
                    // misses overlap the zeroing instead of following it.
                    PrefetchDescriptors(folio.Pfn, 1 << order);
                    _machine.ClearContents(folio.Pfn, 1 << order);
                    return true;
                }

                _mthp.Count(order, MthpStatItem.AnonFaultFallback);
                if (LargeFoliosEventSource.IsOn)
                    LargeFoliosEventSource.Log.FaultFallback(_arena.Id, (int)_id, address, order);
                fallbacks++;
                orders &= ~(1u << order);
            }
        }

        // folio_prealloc: the order-0 fallback.
        if (!_arena.TryAllocate(0, out folio, FolioKind.Anonymous))
            return false;
        _machine.ClearContents(folio.Pfn, 1);
        return true;
    }

    /// <summary>Prefetches the descriptors of <paramref name="nr"/> pages for writing (one 64-byte line each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PrefetchDescriptors(uint pfn, int nr)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported)
            return;
        PageDescriptor* page = _pages + pfn;
        for (int i = 1; i < nr; i++)
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(page + i);
    }

    /// <summary>Linux <c>thp_vma_suitable_orders</c>: keeps the orders whose aligned range around <paramref name="address"/> lies inside the VMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint SuitableOrders(in Vma vma, ulong address, uint orders)
    {
        uint suitable = orders;
        while (orders != 0)
        {
            int order = BitOperations.Log2(orders);
            orders &= ~(1u << order);
            ulong size = (ulong)PageGeometry.PageSize << order;
            ulong haddr = address & ~(size - 1);
            if (haddr < vma.Start || haddr + size > vma.End)
                suitable &= ~(1u << order);
        }

        return suitable;
    }

    /// <summary>
    /// Linux <c>do_wp_page</c> on a read-only PTE of an anonymous VMA: only the zero page is mapped
    /// read-only here, so this is <c>wp_page_copy</c> from the zero page to a new order-0 folio.
    /// </summary>
    private FaultResult DoWpPage(in Vma vma, ulong address, PteTable table, Pte orig)
    {
        Debug.Assert(orig.IsSpecial && orig.Pfn == _machine.ZeroPfn, "a read-only PTE that is not the zero page");
        if (!_arena.TryAllocate(0, out Folio folio, FolioKind.Anonymous))
            return new FaultResult(FaultKind.OutOfMemory, OrdersTried: 1);
        _machine.ClearContents(folio.Pfn, 1);

        Pte* slot = table.At(address);
        table.Lock();
        if (*slot != orig)
        {
            table.Unlock();
            _arena.Free(folio);
            return Retry;
        }

        AnonRmap.AddNew(_pages + folio.Pfn, 0, _owner, address >> PageGeometry.PageShift, byPmd: false, _id);
        *slot = Pte.Make(folio.Pfn, FolioPteFlags | ((vma.Flags & VmaFlags.Write) != 0 ? WritableFlags : 0));
        table.Unlock();
        return new FaultResult(FaultKind.CopyOnWrite, OrdersTried: 1);
    }

    /// <summary>
    /// <c>deferred_split_folio(folio, false)</c> for a new PMD THP, under the PMD lock right after
    /// its leaf is written (with <c>shrink_underused</c> on): a split of the folio, which needs that
    /// lock, can only come after it.
    /// </summary>
    private readonly struct QueueUnderusedHook(Machine machine, bool enabled) : IPmdInstallHook
    {
        public void Installed(Pte leaf)
        {
            if (enabled)
                machine.DeferredSplitQueue.Queue((uint)leaf.Pfn, PageGeometry.PmdOrder, partiallyMapped: false);
        }
    }

    private static PteFlags FolioPmdFlags(in Vma vma) =>
        FolioPteFlags | PteFlags.Huge | ((vma.Flags & VmaFlags.Write) != 0 ? WritableFlags : 0);

    /// <summary>Takes back <see cref="AnonRmap.AddNew"/> from a folio that was never published.</summary>
    private static void UndoNewRmap(PageDescriptor* head, int order, bool byPmd)
    {
        head->Flags &= ~(ulong)(PageFlags.SwapBacked | PageFlags.Uptodate | PageFlags.AnonExclusive);
        head->Mapping = PageDescriptor.MappingAnon;
        head->Index = 0;
        head->Mapcount = PageDescriptor.NoMapcount;
        if (order == 0)
            return;
        Debug.Assert(byPmd, "only PMD folios are mapped before the race check");
        AnonRmap.ResetLargeCounts(head + 1);
    }

    private static void ThrowSegmentationFault(ulong address, FaultAccess access, string why) =>
        throw new SegmentationFaultException(
            $"Segmentation fault: {(access == FaultAccess.Write ? "write to" : "read of")} 0x{address:x}: {why}; expected an address inside a VMA that allows the access.",
            address,
            access);
}
