using System;
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

    /// <summary>The zero page's PTE.</summary>
    internal Pte ZeroPte => Pte.Make(_machine.ZeroPfn, ZeroPteFlags);

    /// <summary>
    /// The zero page's PTE in place of <paramref name="replaced"/>, with its protection: Linux builds
    /// it from the VMA's <c>vm_page_prot</c> (<c>try_to_map_unused_to_zeropage</c>,
    /// <c>__split_huge_zero_page_pmd</c>), which in a PROT_NONE VMA is PROT_NONE.
    /// </summary>
    internal Pte ZeroPteLike(Pte replaced) => replaced.IsProtNone
        ? Pte.Make(_machine.ZeroPfn, (ZeroPteFlags & ~PteFlags.User) | PteFlags.ProtNone)
        : ZeroPte;

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

        bool traced = FaultPathEventSource.IsOn;
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
        FaultPathEventSource.Log.FaultStart(_arena.Id, (int)_id, address, write ? FaultAccess.Write : FaultAccess.Read);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TraceFaultStop(ulong address, FaultResult result) =>
        FaultPathEventSource.Log.FaultStop(_arena.Id, (int)_id, address, result.Kind, result.Order, result.OrdersTried, result.Fallbacks);

    /// <summary>__handle_mm_fault until it does not lose a race: the re-executed access would fault again.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private FaultResult HandleMmFaultRetrying(in Vma vma, ulong address, bool write)
    {
        FaultResult result;
        while (HandleMmFault(vma, address, write, out result) == FaultOutcome.Retry)
        {
        }

        return result;
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
    private FaultOutcome HandleMmFault(in Vma vma, ulong address, bool write, out FaultResult result)
    {
        if (_tables.FindPmd(address, allocate: true, out PmdSlot pmd) != WalkResult.Table)
            return Handled(new FaultResult(FaultKind.OutOfMemory), out result);

        Pte entry = pmd.Value;
        FaultOutcome huge = FaultOutcome.Fallback;
        result = default;
        if (entry.IsNone && _policy.AllowableOrders(vma.Flags, 1u << PageGeometry.PmdOrder) != 0)
            huge = DoHugePmdAnonymousPage(vma, address, write, in pmd, out result);
        else if (entry.IsLeafPmd)
        {
            if (!write || entry.IsWritable)
                return Handled(new FaultResult(FaultKind.AlreadyMapped), out result);   // huge_pmd_set_accessed
            huge = DoHugePmdWpPage(vma, address, in pmd, out result);
        }

        switch (huge)
        {
            case FaultOutcome.Fallback:
                return HandlePteFault(vma, address, write, in pmd, out result);
            case FaultOutcome.PmdAllocationFallback:
                return WithPmdAttempt(HandlePteFault(vma, address, write, in pmd, out result), ref result);
            default:
                return huge;
        }
    }

    /// <summary>
    /// A PTE-level result after the PMD THP could not be allocated: the PMD order was tried and
    /// given up. A lost race (retry) carries nothing; the next pass finds a PTE table and no PMD
    /// attempt, as Linux's re-executed access would.
    /// </summary>
    private static FaultOutcome WithPmdAttempt(FaultOutcome pte, ref FaultResult result)
    {
        if (pte == FaultOutcome.Handled)
            result = result with { Fallbacks = result.Fallbacks + 1, OrdersTried = result.OrdersTried | (1u << PageGeometry.PmdOrder) };
        return pte;
    }

    /// <summary>A branch's ending with <paramref name="handled"/> as the fault's result.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static FaultOutcome Handled(FaultResult handled, out FaultResult result)
    {
        result = handled;
        return FaultOutcome.Handled;
    }

    /// <summary>A branch's ending without a result of its own (<see cref="FaultOutcome.Retry"/> or a fallback).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static FaultOutcome NotHandled(FaultOutcome outcome, out FaultResult result)
    {
        result = default;
        return outcome;
    }

    /// <summary>
    /// Linux <c>do_huge_pmd_anonymous_page</c>: falls back unless the 2 MiB range lies inside the
    /// VMA (<c>thp_vma_suitable_order</c>). A read maps the huge zero page (with
    /// <c>use_zero_page</c> on); a write, or a read with it off, allocates, zeroes and maps a PMD THP
    /// with a PTE table deposited beside it, and queues it for the underused-THP shrinker
    /// (<c>deferred_split_folio(folio, false)</c>).
    /// </summary>
    private FaultOutcome DoHugePmdAnonymousPage(in Vma vma, ulong address, bool write, in PmdSlot pmd, out FaultResult result)
    {
        ulong haddr = pmd.Start;
        if (haddr < vma.Start || haddr + VirtualAddress.PmdSize > vma.End)
            return NotHandled(FaultOutcome.Fallback, out result);

        // vmf_anon_prepare comes first, so even a read that maps the huge zero page gives the VMA
        // its anon_vma (which a fork then copies the huge zero PMD under).
        uint anonVma = PrepareAnonVma(address);
        if (!write && _policy.UseZeroPage)
        {
            if (!_machine.TryGetHugeZeroFolio(out Folio zero))
            {
                _events.Count(VmEvent.ThpFaultFallback);
                if (FaultPathEventSource.IsOn)
                    FaultPathEventSource.Log.FaultFallback(_arena.Id, (int)_id, address, PageGeometry.PmdOrder);
                return NotHandled(FaultOutcome.Fallback, out result);
            }

            Pte leaf = Pte.Make(zero.Pfn, ZeroPteFlags | PteFlags.Huge);
            var nothing = default(NoInstallHook);
            return _tables.InstallPmdLeaf(in pmd, leaf, deposit: true, ref nothing) switch
            {
                PmdInstallResult.Installed => Handled(new FaultResult(FaultKind.HugeZeroPage, PageGeometry.PmdOrder), out result),
                PmdInstallResult.NotNone => NotHandled(FaultOutcome.Retry, out result),
                _ => Handled(new FaultResult(FaultKind.OutOfMemory), out result),
            };
        }

        if (!TryAllocatePmdFolio(address, out Folio folio))
            return NotHandled(FaultOutcome.PmdAllocationFallback, out result);

        PageDescriptor* head = _pages + folio.Pfn;
        AnonRmap.AddNew(head, PageGeometry.PmdOrder, AnonMapping(anonVma), vma.PageIndexOf(haddr), byPmd: true, _id);
        Pte entry = Pte.Make(folio.Pfn, FolioPmdFlags(vma));
        var queueIt = new QueueUnderusedHook(_machine, _policy.ShrinkUnderused);
        PmdInstallResult installed = _tables.InstallPmdLeaf(in pmd, entry, deposit: true, ref queueIt);
        if (installed != PmdInstallResult.Installed)
        {
            UndoNewRmap(head, PageGeometry.PmdOrder, byPmd: true);
            _arena.Free(folio);
            return installed == PmdInstallResult.NotNone
                ? NotHandled(FaultOutcome.Retry, out result)
                : Handled(new FaultResult(FaultKind.OutOfMemory), out result);
        }

        CountNewPmdFolio();
        return Handled(new FaultResult(FaultKind.PmdFolio, PageGeometry.PmdOrder, OrdersTried: 1u << PageGeometry.PmdOrder), out result);
    }

    /// <summary>
    /// Linux <c>do_huge_pmd_wp_page</c>: a write to a read-only PMD leaf. The huge zero page gets a
    /// fresh PMD THP (<c>do_huge_zero_wp_pmd</c>; when none can be allocated the PMD is split into 512
    /// zero-page PTEs and the fault goes on at the PTE level). A THP whose head is AnonExclusive, or
    /// whose only reference is this mapping, is reused: the whole PMD made writable. Any other (a fork
    /// shares it) has this address space's PMD split into PTEs, and the fault goes on at the PTE level
    /// (<c>do_wp_page</c> on one page).
    /// </summary>
    private FaultOutcome DoHugePmdWpPage(in Vma vma, ulong address, in PmdSlot pmd, out FaultResult result)
    {
        Pte orig = pmd.Value;
        ulong haddr = pmd.Start;
        if (orig.IsSpecial)
        {
            if (TryAllocatePmdFolio(address, out Folio folio))
            {
                uint anonVma = PrepareAnonVma(address);
                PageDescriptor* head = _pages + folio.Pfn;
                AnonRmap.AddNew(head, PageGeometry.PmdOrder, AnonMapping(anonVma), vma.PageIndexOf(haddr), byPmd: true, _id);
                // The running kernel queues this THP for the underused shrinker as a fault's (6.18.2's
                // source does not; folios replay --diff showed the 6.18.44 kernel splitting it).
                var queueIt = new QueueUnderusedHook(_machine, _policy.ShrinkUnderused);
                if (!_tables.TryReplacePmdLeaf(in pmd, orig, Pte.Make(folio.Pfn, FolioPmdFlags(vma)), ref queueIt))
                {
                    UndoNewRmap(head, PageGeometry.PmdOrder, byPmd: true);
                    _arena.Free(folio);
                    return NotHandled(FaultOutcome.Retry, out result);
                }

                CountNewPmdFolio();
                return Handled(new FaultResult(FaultKind.PmdFolio, PageGeometry.PmdOrder, OrdersTried: 1u << PageGeometry.PmdOrder), out result);
            }

            if (SplitHugePmd(in pmd) == PmdSplitResult.OutOfMemory)
            {
                Handled(new FaultResult(FaultKind.OutOfMemory), out result);
                return WithPmdAttempt(FaultOutcome.Handled, ref result);
            }

            return NotHandled(FaultOutcome.PmdAllocationFallback, out result);
        }

        uint headPfn = (uint)orig.Pfn;
        PageDescriptor* thp = _pages + headPfn;
        bool exclusive = (Volatile.Read(ref thp->Flags) & (ulong)PageFlags.AnonExclusive) != 0;
        if (!exclusive && Volatile.Read(ref thp->Refcount) == 1)
        {
            // The only reference is this PMD: folio_move_anon_rmap, SetPageAnonExclusive, reuse.
            thp->Mapping = AnonMapping(PrepareAnonVma(address));
            Interlocked.Or(ref thp->Flags, (ulong)PageFlags.AnonExclusive);
            exclusive = true;
        }

        if (exclusive)
        {
            if (!_tables.TryReplacePmdLeaf(in pmd, orig, orig.With(WritableFlags | PteFlags.Accessed)))
                return NotHandled(FaultOutcome.Retry, out result);
            _events.Count(VmEvent.PgReuse);
            return Handled(new FaultResult(FaultKind.Reuse, PageGeometry.PmdOrder), out result);
        }

        if (SplitHugePmd(in pmd) == PmdSplitResult.OutOfMemory)
            return Handled(new FaultResult(FaultKind.OutOfMemory), out result);
        return NotHandled(FaultOutcome.Fallback, out result);
    }

    /// <summary>Linux <c>vma_alloc_anon_folio_pmd</c>: a zeroed PMD-order anonymous folio, or the fallback counted.</summary>
    private bool TryAllocatePmdFolio(ulong address, out Folio folio)
    {
        if (!_arena.TryAllocate(PageGeometry.PmdOrder, FolioKind.Anonymous, out folio))
        {
            _events.Count(VmEvent.ThpFaultFallback);
            _mthp.Count(PageGeometry.PmdOrder, MthpStatItem.AnonFaultFallback);
            if (FaultPathEventSource.IsOn)
                FaultPathEventSource.Log.FaultFallback(_arena.Id, (int)_id, address, PageGeometry.PmdOrder);
            return false;
        }

        _machine.Contents.Clear(folio.Pfn, 1 << PageGeometry.PmdOrder);
        return true;
    }

    private void CountNewPmdFolio()
    {
        _events.Count(VmEvent.ThpFaultAlloc);
        _mthp.Count(PageGeometry.PmdOrder, MthpStatItem.AnonFaultAlloc);
        _mthp.Add(PageGeometry.PmdOrder, MthpStatItem.NrAnon, 1);
    }

    /// <summary>Linux <c>handle_pte_fault</c> for an anonymous VMA: a none PTE is <c>do_anonymous_page</c>; a write to a read-only PTE is <c>do_wp_page</c>.</summary>
    private FaultOutcome HandlePteFault(in Vma vma, ulong address, bool write, in PmdSlot pmd, out FaultResult result)
    {
        // pte_alloc: do_anonymous_page allocates the PTE table before anything else.
        switch (_tables.PteTableOf(in pmd, allocate: true, out PteTable table))
        {
            case WalkResult.Table:
                break;
            case WalkResult.PmdLeaf:
                return NotHandled(FaultOutcome.Retry, out result);   // a racing fault installed a leaf
            default:
                return Handled(new FaultResult(FaultKind.OutOfMemory), out result);
        }

        return HandlePte(vma, address, write, table, out result);
    }

    /// <summary>
    /// <c>handle_pte_fault</c>'s choice once the PTE table is there: a none PTE is
    /// <c>do_anonymous_page</c>, a write to a read-only PTE <c>do_wp_page</c>, anything else is
    /// already mapped as the access needs. MADV_POPULATE calls it straight on the table its walk holds.
    /// </summary>
    private FaultOutcome HandlePte(in Vma vma, ulong address, bool write, PteTable table, out FaultResult result)
    {
        Pte pte = new(Volatile.Read(ref *(ulong*)table.Slot(address)));
        if (pte.IsNone)
            return DoAnonymousPage(vma, address, write, table, out result);
        if (write && !pte.IsWritable)
            return DoWpPage(vma, address, table, pte, out result);
        return Handled(new FaultResult(FaultKind.AlreadyMapped), out result);
    }

    /// <summary>
    /// Linux <c>do_anonymous_page</c>: a read maps the zero page; a write maps a new folio of the
    /// order <see cref="AllocAnonFolio"/> chose, zeroed, after checking under the PTE-table lock that
    /// its PTE range is still none (else another thread won: drop the folio and retry). All its PTEs
    /// are set in one batch, its refcount is one per PTE, and rmap counts it mapped page by page.
    /// </summary>
    private FaultOutcome DoAnonymousPage(in Vma vma, ulong address, bool write, PteTable table, out FaultResult result)
    {
        if (!write)
        {
            Pte* slot = table.Slot(address);
            table.Lock();
            if (!slot->IsNone)
            {
                table.Unlock();
                return NotHandled(FaultOutcome.Retry, out result);
            }

            *slot = ZeroPte;
            table.Unlock();
            return Handled(new FaultResult(FaultKind.ZeroPage), out result);
        }

        uint anonVma = PrepareAnonVma(address);   // vmf_anon_prepare, before the folio is allocated
        if (!AllocAnonFolio(vma, address, table, out Folio folio, out int fallbacks, out uint tried))
            return Handled(new FaultResult(FaultKind.OutOfMemory, Fallbacks: fallbacks, OrdersTried: tried), out result);

        int order = folio.Order;
        int nr = 1 << order;
        ulong addr = address & ~(((ulong)nr << PageGeometry.PageShift) - 1);
        Pte* first = table.Slot(addr);
        table.Lock();
        if (nr == 1 ? !first->IsNone : !PteScan.AllNone(new ReadOnlySpan<Pte>(first, nr)))
        {
            table.Unlock();
            _arena.Free(folio);
            return NotHandled(FaultOutcome.Retry, out result);
        }

        PageDescriptor* head = _pages + folio.Pfn;
        if (nr != 1)
            head->Refcount = nr;   // folio_ref_add(folio, nr_pages - 1)
        AnonRmap.AddNew(head, order, AnonMapping(anonVma), vma.PageIndexOf(addr), byPmd: false, _id);
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

        return Handled(new FaultResult(FaultKind.Folio, order, fallbacks, tried), out result);
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
                if (PteScan.AllNone(new ReadOnlySpan<Pte>(table.Slot(addr), 1 << order)))
                    break;
                orders &= ~(1u << order);
            }

            while (orders != 0)
            {
                int order = BitOperations.Log2(orders);
                tried |= 1u << order;
                if (_arena.TryAllocate(order, FolioKind.Anonymous, out folio))
                {
                    tried &= ~1u;
                    // rmap will write every page's descriptor: start fetching them now, so the
                    // misses overlap the zeroing instead of following it.
                    PrefetchDescriptors(folio.Pfn, 1 << order);
                    _machine.Contents.Clear(folio.Pfn, 1 << order);
                    return true;
                }

                _mthp.Count(order, MthpStatItem.AnonFaultFallback);
                if (FaultPathEventSource.IsOn)
                    FaultPathEventSource.Log.FaultFallback(_arena.Id, (int)_id, address, order);
                fallbacks++;
                orders &= ~(1u << order);
            }
        }

        // folio_prealloc: the order-0 fallback.
        if (!_arena.TryAllocate(0, FolioKind.Anonymous, out folio))
            return false;
        _machine.Contents.Clear(folio.Pfn, 1);
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
    /// Linux <c>do_wp_page</c> on a read-only PTE of an anonymous VMA: a page that is AnonExclusive,
    /// or whose folio this process alone maps and holds (<see cref="CanReuseAnonFolio"/>), is reused:
    /// that one PTE becomes writable (<c>wp_page_reuse</c>). Anything else, the zero page included, is
    /// copied to a new order-0 folio (<c>wp_page_copy</c>).
    /// </summary>
    private FaultOutcome DoWpPage(in Vma vma, ulong address, PteTable table, Pte orig, out FaultResult result)
    {
        if (orig.IsSpecial)
            return WpPageCopy(vma, address, table, orig, out result);

        uint pfn = (uint)orig.Pfn;
        uint headPfn = AnonRmap.HeadOf(_pages, pfn, out int order);
        PageDescriptor* page = _pages + pfn;
        PageDescriptor* head = _pages + headPfn;
        Pte* slot = table.Slot(address);
        table.Lock();
        if (*slot != orig)
        {
            table.Unlock();
            return NotHandled(FaultOutcome.Retry, out result);
        }

        if ((page->Flags & (ulong)PageFlags.AnonExclusive) == 0 && !CanReuseAnonFolio(head, order, address))
        {
            table.Unlock();
            return WpPageCopy(vma, address, table, orig, out result);
        }

        Interlocked.Or(ref page->Flags, (ulong)PageFlags.AnonExclusive);
        *slot = orig.With(((vma.Flags & VmaFlags.Write) != 0 ? WritableFlags : PteFlags.Dirty) | PteFlags.Accessed);
        table.Unlock();
        _events.Count(VmEvent.PgReuse);
        return Handled(new FaultResult(FaultKind.Reuse, order), out result);
    }

    /// <summary>
    /// Linux <c>wp_can_reuse_anon_folio</c>, the PTE lock held: a large folio is reused when it is
    /// mapped more than once, not shared with another process (the shared bit clear), and holds no
    /// reference beyond its mappings (<c>__wp_can_reuse_large_anon_folio</c>); an order-0 one when its
    /// mapping holds its only reference, which then moves to this VMA's anon_vma
    /// (<c>folio_move_anon_rmap</c>).
    /// </summary>
    private bool CanReuseAnonFolio(PageDescriptor* head, int order, ulong address)
    {
        if (order > 0)
        {
            int mapcount = AnonRmap.Mapcount(head, order);
            return mapcount > 1 && !AnonRmap.IsShared(head + 1) && Volatile.Read(ref head->Refcount) == mapcount;
        }

        if (Volatile.Read(ref head->Refcount) != 1)
            return false;
        head->Mapping = AnonMapping(PrepareAnonVma(address));
        return true;
    }

    /// <summary>
    /// Linux <c>wp_page_copy</c>: a new order-0 folio (zeroed for the zero page, else a copy of the
    /// page) replaces the read-only PTE, writable; the old folio loses that one page's mapping and its
    /// reference (and, if that leaves some page of it mapped by nobody while others are, goes on the
    /// deferred-split queue).
    /// </summary>
    private FaultOutcome WpPageCopy(in Vma vma, ulong address, PteTable table, Pte orig, out FaultResult result)
    {
        uint anonVma = PrepareAnonVma(address);
        if (!_arena.TryAllocate(0, FolioKind.Anonymous, out Folio folio))
            return Handled(new FaultResult(FaultKind.OutOfMemory, OrdersTried: 1), out result);
        bool fromZero = orig.IsSpecial;
        if (fromZero)
            _machine.Contents.Clear(folio.Pfn, 1);
        else
            _machine.Contents.Copy((uint)orig.Pfn, folio.Pfn);

        Pte* slot = table.Slot(address);
        table.Lock();
        if (*slot != orig)
        {
            table.Unlock();
            _arena.Free(folio);
            return NotHandled(FaultOutcome.Retry, out result);
        }

        AnonRmap.AddNew(_pages + folio.Pfn, 0, AnonMapping(anonVma), vma.PageIndexOf(address), byPmd: false, _id);
        *slot = Pte.Make(folio.Pfn, FolioPteFlags | ((vma.Flags & VmaFlags.Write) != 0 ? WritableFlags : PteFlags.Dirty));
        if (!fromZero)
        {
            uint pfn = (uint)orig.Pfn;
            uint headPfn = AnonRmap.HeadOf(_pages, pfn, out int order);
            PageDescriptor* head = _pages + headPfn;
            bool partially = AnonRmap.RemovePtes(head, order, (int)(pfn - headPfn), 1, _id);
            _rss.Add(0, -1);
            if (partially && (head[1].Flags & (ulong)FolioFlags.PartiallyMapped) == 0)
                _machine.DeferredSplitQueue.Queue(headPfn, order, partiallyMapped: true);
            table.Unlock();
            _machine.ReleaseFolio(_arena.HandleOf(headPfn, order), 1);
        }
        else
        {
            table.Unlock();
        }

        return Handled(new FaultResult(FaultKind.CopyOnWrite, OrdersTried: 1), out result);
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

    /// <summary>A folio's mapping word for <paramref name="anonVma"/> (Linux <c>folio->mapping = anon_vma | PAGE_MAPPING_ANON</c>).</summary>
    internal static ulong AnonMapping(uint anonVma) => ((ulong)anonVma << 1) | PageDescriptor.MappingAnon;

    /// <summary>The anon_vma a folio of the VMA holding <paramref name="address"/> joins, given to the VMA now if it has none (Linux <c>vmf_anon_prepare</c>).</summary>
    private uint PrepareAnonVma(ulong address) =>
        _vmas.PrepareAnonVma(address, () => _machine.AnonVmas.Allocate(this));

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
