using System;
using System.Collections.Generic;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// Splitting a mapped folio, wherever it is mapped (Linux <c>__folio_split</c>: lock,
/// <c>can_split_folio</c>, <c>unmap_folio</c>, freeze and unqueue, <c>__split_unmapped_folio</c>,
/// <c>remap_page</c>), across every process that maps it.
/// </summary>
public sealed unsafe partial class Machine
{
    /// <summary>
    /// Linux <c>__folio_split</c> of an anonymous folio: the caller holds one reference, and the mmap
    /// lock of <paramref name="lockHolder"/> when it is not null (the others are taken here, the read
    /// side, without waiting when the caller already holds one: a lock that is busy makes the folio
    /// busy). In Linux's steps:
    /// <list type="number">
    /// <item>the order: order 1 for anonymous memory, or not below the folio's, is refused (-EINVAL,
    /// not counted); the folio lock taken (a busy folio is left, -EAGAIN);</item>
    /// <item><c>can_split_folio</c>: refcount == every mapping in every process + the caller's one,
    /// and something maps it (<c>folio_get_anon_vma</c>), else <c>split_failed</c>;</item>
    /// <item><c>unmap_folio</c> over the rmap walk (<see cref="AnonVmaRegistry.Family"/>, each
    /// process's VMAs in page-offset order): each PMD mapping frozen whole (its rmap removed,
    /// <c>thp_split_pmd</c>; the table left locked, as migration entries keep faults out), then every
    /// PTE taken out one at a time, each removal's rmap as Linux's <c>folio_remove_rmap_pte</c>, so
    /// the first that leaves some page mapped by nobody while others are marks the folio partially
    /// mapped (<c>split_deferred</c>);</item>
    /// <item>freeze the refcount and leave the deferred-split queue; a lost race puts every entry
    /// back (the folio stays large, PTE-mapped where a PMD was, and counts <c>split_failed</c>);</item>
    /// <item><c>__split_unmapped_folio</c> in the arena, uniform or non-uniform at
    /// <paramref name="splitAtPfn"/>, with <c>split</c> and <c>nr_anon</c> counted;</item>
    /// <item><c>remap_page</c> with RMP_USE_SHARED_ZEROPAGE: each piece mapped back where its pages
    /// were, in every process, AnonExclusive as it was; an order-0 piece that is all zeros becomes the
    /// zero page instead (RssAnon -1 in that process) and is freed.</item>
    /// </list>
    /// The caller's reference stays with the new folio holding the old head page.
    /// </summary>
    internal SplitOutcome SplitFolio(Folio folio, int newOrder, uint splitAtPfn, AddressSpace? lockHolder)
    {
        uint pfn = folio.Pfn;
        int order = folio.Order;
        PageDescriptor* head = _pages + pfn;
        if (newOrder >= order || newOrder == 1)
        {
            if (FaultPathEventSource.IsOn)
                FaultPathEventSource.Log.FolioSplitRefused(_arena.Id, pfn, order, newOrder, FolioSplitRefusal.InvalidOrder);
            return SplitOutcome.InvalidOrder;
        }

        uint anonVma = (uint)(head->Mapping >> 1);
        AddressSpace[] family = AnonVmas.Family(anonVma);
        Array.Sort(family, static (a, b) => a.Id.CompareTo(b.Id));
        var locked = new List<AddressSpace>(family.Length);
        try
        {
            foreach (AddressSpace space in family)
            {
                if (space == lockHolder)
                    continue;
                if (lockHolder != null)
                {
                    if (!space.VmaSet.Lock.TryEnterRead())
                        return SplitOutcome.Busy;
                }
                else
                {
                    space.VmaSet.Lock.EnterRead();
                }

                locked.Add(space);
            }

            if (!TryLockFolio(head))
                return SplitOutcome.Busy;
            SplitOutcome outcome = SplitLockedFolio(folio, newOrder, splitAtPfn, WalkOrder(family));
            if (outcome != SplitOutcome.Split)
                UnlockFolio(head);   // a split unlocked every piece as it remapped it
            return outcome;
        }
        finally
        {
            foreach (AddressSpace space in locked)
                space.VmaSet.Lock.ExitRead();
        }
    }

    /// <summary>
    /// The processes the rmap walk visits: in id order, which is the order they joined the anon_vma
    /// tree (a parent before the children it forked; Linux visits VMAs of equal page offset in the
    /// order they were linked), the exited left out.
    /// </summary>
    private static List<AddressSpace> WalkOrder(AddressSpace[] sortedById)
    {
        var order = new List<AddressSpace>(sortedById.Length);
        foreach (AddressSpace space in sortedById)
        {
            if (!space.IsExited)
                order.Add(space);
        }

        return order;
    }

    /// <summary>The split of a locked folio, every process that maps it locked against change (see <see cref="SplitFolio"/>).</summary>
    private SplitOutcome SplitLockedFolio(Folio folio, int newOrder, uint splitAtPfn, List<AddressSpace> walk)
    {
        uint pfn = folio.Pfn;
        int order = folio.Order;
        PageDescriptor* head = _pages + pfn;
        int mapcount = AnonRmap.Mapcount(head, order);
        if (mapcount == 0 || Volatile.Read(ref head->Refcount) != mapcount + 1)
        {
            CountSplitFailed(pfn, order, newOrder, mapcount == 0 ? FolioSplitRefusal.NotMapped : FolioSplitRefusal.ExtraReferences);
            return SplitOutcome.Busy;
        }

        var unmap = new FolioUnmap(this, pfn, order);
        try
        {
            if (!unmap.FreezePmds(walk))
            {
                unmap.Restore();
                CountSplitFailed(pfn, order, newOrder, FolioSplitRefusal.NoMemory);
                return SplitOutcome.Busy;
            }

            unmap.TakeOutPtes(walk);
            if (!FreezeAndUnqueue(head, pfn, order, unmap.Mappings))
            {
                unmap.Restore();
                CountSplitFailed(pfn, order, newOrder, FolioSplitRefusal.Frozen);
                return SplitOutcome.Busy;
            }

            ResetRmap(head, order);
            head->Refcount = 1;   // the arena's split takes the folio with one reference
            FolioRange pieces = splitAtPfn == uint.MaxValue
                ? _arena.SplitUniform(folio, newOrder)
                : _arena.SplitNonUniform(folio, newOrder, splitAtPfn);
            CountSplit(order, failed: false);
            MthpStats.Add(order, MthpStatItem.NrAnon, -1);
            foreach (Folio piece in pieces)
                unmap.RemapPiece(piece);
            return SplitOutcome.Split;
        }
        finally
        {
            unmap.UnlockTables();
        }
    }

    /// <summary>
    /// <c>folio_ref_freeze(folio, 1 + mappings)</c> under the deferred-split queue's lock, where the
    /// shrinker takes its references, and off the queue: a reference taken since
    /// <c>can_split_folio</c> (a scan, another split) makes the freeze fail.
    /// </summary>
    /// <returns>False when the freeze failed: nothing changed.</returns>
    private bool FreezeAndUnqueue(PageDescriptor* head, uint pfn, int order, int mappings)
    {
        DeferredSplitQueue queue = DeferredSplitQueue;
        queue.Lock.Enter();
        bool frozen = Interlocked.CompareExchange(ref head->Refcount, 0, mappings + 1) == mappings + 1;
        if (frozen)
            queue.UnqueueLocked(pfn, order);
        queue.Lock.Exit();
        return frozen;
    }

    /// <summary>An unmapped folio's rmap words, as a split expects them.</summary>
    private static void ResetRmap(PageDescriptor* head, int order)
    {
        int nr = 1 << order;
        for (int i = 0; i < nr; i++)
        {
            head[i].Mapcount = PageDescriptor.NoMapcount;
            head[i].Flags &= ~(ulong)PageFlags.AnonExclusive;
        }

        AnonRmap.ResetLargeCounts(head + 1);
    }

    /// <summary>Linux <c>folio_trylock</c>: PG_locked on the head, set atomically.</summary>
    internal static bool TryLockFolio(PageDescriptor* head) =>
        (Interlocked.Or(ref head->Flags, (ulong)PageFlags.Locked) & (ulong)PageFlags.Locked) == 0;

    /// <summary>Linux <c>folio_unlock</c>.</summary>
    internal static void UnlockFolio(PageDescriptor* head) =>
        Interlocked.And(ref head->Flags, ~(ulong)PageFlags.Locked);

    /// <summary>
    /// <c>unmap_folio</c> and <c>remap_page</c> for one folio: every entry that maps a page of it, in
    /// every process, taken out and kept (with whether the page was AnonExclusive), the page tables
    /// they were in held locked until the pieces are mapped back.
    /// </summary>
    private sealed class FolioUnmap(Machine machine, uint headPfn, int order)
    {
        private readonly PageDescriptor* _pages = machine._pages;
        private readonly List<Site> _sites = [];
        private readonly List<PteTable> _lockedTables = [];

        /// <summary>Mappings taken out: what the folio's references still count until the freeze.</summary>
        public int Mappings { get; private set; }

        private PageDescriptor* Head => _pages + headPfn;

        /// <summary>Each PMD mapping frozen into a locked, empty PTE table, its rmap removed (<c>split_huge_pmd_locked(freeze=true)</c>).</summary>
        /// <returns>False when a table could not be had (nothing more was frozen).</returns>
        public bool FreezePmds(List<AddressSpace> walk)
        {
            if (order < PageGeometry.PmdOrder)
                return true;
            bool exclusive = (Head->Flags & (ulong)PageFlags.AnonExclusive) != 0;
            foreach (AddressSpace space in walk)
            {
                foreach (Vma vma in space.VmaSet)
                {
                    if (!MayMap(vma) || !vma.TryAddressOf(Head->Index, out ulong haddr) || (haddr & (VirtualAddress.PmdSize - 1)) != 0 || haddr + VirtualAddress.PmdSize > vma.End)
                        continue;
                    if (space.Tables.FindPmd(haddr, allocate: false, out PmdSlot pmd) != WalkResult.Table)
                        continue;
                    Pte leaf = pmd.Value;
                    if (!leaf.IsLeafPmd || leaf.IsSpecial || leaf.Pfn != headPfn)
                        continue;
                    switch (space.Tables.FreezePmdLeaf(in pmd, leaf, out PteTable table))
                    {
                        case PmdSplitResult.OutOfMemory:
                            return false;
                        case PmdSplitResult.NotLeaf:
                            continue;   // a racing write fault split it: its PTEs are found below
                    }

                    _lockedTables.Add(table);
                    machine.Events.Count(VmEvent.ThpSplitPmd);
                    // The last PMD going while another process maps some pages by PTE leaves the
                    // folio partially mapped: __folio_remove_rmap queues it (split_deferred) as the
                    // PTEs' removal below does, and the split then takes it off the queue again.
                    bool partially = AnonRmap.RemovePmd(Head, order, space.Id);
                    if (partially && (Head[1].Flags & (ulong)FolioFlags.PartiallyMapped) == 0)
                        machine.DeferredSplitQueue.Queue(headPfn, order, partiallyMapped: true);
                    Pte pte = leaf.Without(PteFlags.Huge);
                    for (int i = 0; i < 1 << order; i++, pte = pte.NextPage)
                        _sites.Add(new Site(space, table, haddr + ((ulong)i << PageGeometry.PageShift), i, pte, exclusive, FromPmd: true));
                    Mappings++;
                }
            }

            return true;
        }

        /// <summary>
        /// Every PTE that maps a page of the folio, found, its table locked (in PFN order, so two
        /// splits never wait on each other), checked again, then taken out one at a time in walk
        /// order, each removal's rmap as Linux's (the partially-mapped mark included).
        /// </summary>
        public void TakeOutPtes(List<AddressSpace> walk)
        {
            var found = new List<Site>();
            var tables = new SortedDictionary<uint, PteTable>();
            foreach (PteTable frozen in _lockedTables)
                tables[frozen.Pfn] = frozen;
            foreach (AddressSpace space in walk)
            {
                foreach (Vma vma in space.VmaSet)
                {
                    if (!MayMap(vma))
                        continue;
                    for (int i = 0; i < 1 << order; i++)
                    {
                        if (!vma.TryAddressOf(Head->Index + (ulong)i, out ulong va))
                            continue;
                        if (space.Tables.Walk(va, allocate: false, out PteTable table) != WalkResult.Table)
                            continue;
                        Pte pte = *table.Slot(va);
                        if (!pte.IsPresent || pte.IsSpecial || pte.Pfn != headPfn + (ulong)i)
                            continue;
                        found.Add(new Site(space, table, va, i, pte, false, FromPmd: false));
                        tables.TryAdd(table.Pfn, table);
                    }
                }
            }

            foreach (var (pfn, table) in tables)
            {
                if (!_lockedTables.Exists(t => t.Pfn == pfn))
                {
                    table.Lock();
                    _lockedTables.Add(table);
                }
            }

            foreach (Site site in found)
            {
                Pte* slot = site.Table.Slot(site.Va);
                if (*slot != site.Saved)
                    continue;   // a racing COW took it before the locks were had
                PageDescriptor* page = _pages + headPfn + (uint)site.Page;
                bool exclusive = (page->Flags & (ulong)PageFlags.AnonExclusive) != 0;
                *slot = Pte.None;
                bool partially = AnonRmap.RemovePtes(Head, order, site.Page, 1, site.Space.Id);
                if (partially && (Head[1].Flags & (ulong)FolioFlags.PartiallyMapped) == 0)
                    machine.DeferredSplitQueue.Queue(headPfn, order, partiallyMapped: true);
                _sites.Add(site with { Exclusive = exclusive });
                Mappings++;
            }
        }

        /// <summary>The split did not happen: every entry goes back, PTE-mapped (a frozen PMD stays split, as Linux's <c>remap_page</c> leaves it).</summary>
        public void Restore()
        {
            int pmdMappings = 0;
            foreach (Site site in _sites)
            {
                *site.Table.Slot(site.Va) = site.Saved;
                AnonRmap.AddPtes(Head, order, site.Page, 1, site.Space.Id, site.Exclusive);
                if (site.FromPmd && site.Page > 0)
                    pmdMappings++;
            }

            // A frozen PMD held one reference; its 512 PTEs hold one each.
            if (pmdMappings > 0)
                Interlocked.Add(ref Head->Refcount, pmdMappings);
        }

        /// <summary><c>remap_page</c> for one new folio: its entries back in every process (or the zero page), its rmap and references; freed when nothing maps it.</summary>
        public void RemapPiece(Folio piece)
        {
            int pieceOrder = piece.Order;
            int first = (int)(piece.Pfn - headPfn);
            int last = first + (1 << pieceOrder);
            PageDescriptor* pieceHead = _pages + piece.Pfn;
            pieceHead->Flags &= ~(ulong)PageFlags.Locked;   // every piece inherited the old head's lock
            machine.MthpStats.Add(pieceOrder, MthpStatItem.NrAnon, 1);
            bool zeroFilled = pieceOrder == 0 && machine.Contents.IsZeroFilled(piece.Pfn);
            int mapped = 0;
            foreach (Site site in _sites)
            {
                if (site.Page < first || site.Page >= last)
                    continue;
                Pte* slot = site.Table.Slot(site.Va);
                if (zeroFilled)
                {
                    *slot = site.Space.ZeroPteLike(site.Saved);
                    site.Space.AddAnonPages(-1);
                    machine.Events.Count(VmEvent.ZeroPageRemap);
                    continue;
                }

                *slot = site.Saved;
                AnonRmap.AddPtes(pieceHead, pieceOrder, site.Page - first, 1, site.Space.Id, site.Exclusive);
                mapped++;
            }

            // The split left each piece one reference; the piece with the old head keeps it for the
            // caller, every other piece drops it for its mappings' references.
            bool callers = piece.Pfn == headPfn;
            pieceHead->Refcount = mapped + (callers ? 1 : 0);
            if (pieceHead->Refcount == 0)
            {
                pieceHead->Refcount = 1;
                machine.ReleaseFolio(piece, 1);
            }
        }

        public void UnlockTables()
        {
            foreach (PteTable table in _lockedTables)
                table.Unlock();
            _lockedTables.Clear();
        }

        /// <summary>Whether the VMA may hold pages of the folio: an anon_vma of the folio's tree, and a page-offset range that meets the folio's.</summary>
        private bool MayMap(in Vma vma)
        {
            if (vma.AnonVma == 0)
                return false;
            uint folioAnonVma = (uint)(Head->Mapping >> 1);
            if (machine.AnonVmas.RootOf(vma.AnonVma) != machine.AnonVmas.RootOf(folioAnonVma))
                return false;
            ulong index = Head->Index;
            ulong pages = vma.Length >> PageGeometry.PageShift;
            return vma.PageOffset < index + (1UL << order) && index < vma.PageOffset + pages;
        }

        /// <summary>One entry that mapped a page of the folio: where, which page, what it held, whether the page was AnonExclusive.</summary>
        private readonly record struct Site(AddressSpace Space, PteTable Table, ulong Va, int Page, Pte Saved, bool Exclusive, bool FromPmd);
    }
}
