using System.Collections.Generic;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// Checks an address space against its mappings: the VMAs and page tables themselves, then every
/// entry that maps something (inside a VMA, of the right protection, at the index its folio says,
/// in the VMA's anon_vma tree), tallying what maps each folio; <see cref="CheckFolios"/> then checks
/// every folio's rmap counts and references against the tallies of every process that maps it, as
/// <see cref="AnonRmap"/> states them. The machine must be quiescent.
/// </summary>
internal static unsafe class AddressSpaceValidator
{
    /// <summary>
    /// Checks one address space's own invariants and adds what its entries map to
    /// <paramref name="folios"/>. The caller holds its mmap lock.
    /// </summary>
    public static void Collect(AddressSpace space, Machine machine, Dictionary<uint, FolioTally> folios)
    {
        VmaSet vmas = space.VmaSet;
        PageTableTree tables = space.Tables;
        vmas.Validate();
        tables.Validate();

        uint hugeZeroPfn = machine.HugeZeroFolio is { } zero ? zero.Pfn : PageDescriptor.Nil;
        var mappings = new MappingVisitor(space, machine, hugeZeroPfn, folios);
        foreach (Vma vma in vmas)
        {
            mappings.Vma = vma;
            tables.WalkRange(vma.Start, vma.End, ref mappings);
        }

        var everything = new CountingVisitor();
        tables.WalkRange(0, VirtualAddress.TaskSize, ref everything);
        if (everything.Entries != mappings.Entries)
            Fail($"Address space {space.Id}: the page tables hold {everything.Entries} mappings but only {mappings.Entries} lie inside VMAs: something outside every VMA is still mapped.");
        if (mappings.AnonPages != space.AnonPages)
            Fail($"Address space {space.Id}: the tables map {mappings.AnonPages} anonymous pages but MM_ANONPAGES says {space.AnonPages}.");
    }

    /// <summary>
    /// Checks every folio of <paramref name="folios"/> (or those <paramref name="only"/> maps): refcount,
    /// per-page and folio mapcounts, nr_pages_mapped, the mm-id slots and the shared bit, AnonExclusive
    /// pages mapped by one process only, the partially-mapped flag only on queued folios.
    /// </summary>
    public static void CheckFolios(PageDescriptor* pages, Dictionary<uint, FolioTally> folios, Machine machine, AddressSpace? only = null)
    {
        foreach (var (headPfn, tally) in folios)
        {
            if (only == null || tally.ByMm.ContainsKey(only.Id))
                CheckFolio(pages, headPfn, tally, machine);
        }
    }

    /// <summary>Every entry inside one VMA: what it maps, checked, and tallied per folio and process.</summary>
    private struct MappingVisitor(AddressSpace space, Machine machine, uint hugeZeroPfn, Dictionary<uint, FolioTally> folios) : IPageWalkVisitor
    {
        private readonly PageDescriptor* _pages = machine.Pages;
        private readonly uint _zeroPfn = machine.ZeroPfn;

        public Vma Vma;

        public long AnonPages { get; private set; }

        public long Entries { get; private set; }

        public readonly WalkAction PteHole(ulong address, ulong limit, PageTableLevel level) => WalkAction.Continue;

        public WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit)
        {
            Pte leaf = pmd.Value;
            if (!leaf.IsLeafPmd)
                return WalkAction.Subtree;
            ulong haddr = pmd.Start;
            if (haddr < Vma.Start || haddr + VirtualAddress.PmdSize > Vma.End)
                Fail($"The PMD leaf at 0x{haddr:x} reaches outside its VMA 0x{Vma.Start:x}..0x{Vma.End:x}.");
            Entries++;
            CheckProtection(leaf, haddr);
            if (leaf.IsSpecial)
            {
                if (leaf.Pfn != hugeZeroPfn || leaf.IsWritable)
                    Fail($"The special PMD leaf at 0x{haddr:x} maps PFN 0x{leaf.Pfn:x} ({leaf.Flags}); expected the read-only huge zero page 0x{hugeZeroPfn:x}.");
                if (Vma.AnonVma == 0)
                    Fail($"The huge zero page is mapped at 0x{haddr:x} in VMA {Vma}, which has no anon_vma; a PMD-level fault gives it one.");
                return WalkAction.Continue;
            }

            uint head = (uint)leaf.Pfn;
            CheckFolioHere(head, haddr, 0);
            if (!_pages[head].IsHead || _pages[head + 1].FolioOrder != PageGeometry.PmdOrder)
                Fail($"The PMD leaf at 0x{haddr:x} maps PFN 0x{head:x}, which does not head a PMD-order folio.");
            if (leaf.IsWritable && (_pages[head].Flags & (ulong)PageFlags.AnonExclusive) == 0)
                Fail($"The PMD leaf at 0x{haddr:x} is writable but its folio's head is not AnonExclusive.");
            Tally(head, PageGeometry.PmdOrder).Pmds++;
            AnonPages += 1 << PageGeometry.PmdOrder;
            return WalkAction.Continue;
        }

        public WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit)
        {
            for (ulong va = address; va < limit; va += PageGeometry.PageSize)
            {
                Pte pte = *table.Slot(va);
                if (pte.IsNone)
                    continue;
                Entries++;
                if (!pte.IsPresent)
                    Fail($"The PTE for 0x{va:x} is {pte}: neither none nor present.");
                CheckProtection(pte, va);
                if (pte.IsSpecial)
                {
                    if (pte.Pfn != _zeroPfn || pte.IsWritable)
                        Fail($"The special PTE for 0x{va:x} maps PFN 0x{pte.Pfn:x} ({pte.Flags}); expected the read-only zero page 0x{_zeroPfn:x}.");
                    continue;
                }

                uint pfn = (uint)pte.Pfn;
                uint headPfn = AnonRmap.HeadOf(_pages, pfn, out int order);
                CheckFolioHere(headPfn, va, (int)(pfn - headPfn));
                if (pte.IsWritable && (_pages[pfn].Flags & (ulong)PageFlags.AnonExclusive) == 0)
                    Fail($"The PTE for 0x{va:x} is writable but PFN 0x{pfn:x} is not AnonExclusive.");
                MmTally tally = Tally(headPfn, order);
                tally.Ptes++;
                tally.PerPage[pfn - headPfn]++;
                AnonPages++;
            }

            return WalkAction.Continue;
        }

        /// <summary>An entry's protection against its VMA's: never writable where the VMA is not; PROT_NONE exactly where the VMA allows no access.</summary>
        private readonly void CheckProtection(Pte entry, ulong va)
        {
            bool writable = (Vma.Flags & VmaFlags.Write) != 0;
            bool none = (Vma.Flags & (VmaFlags.Read | VmaFlags.Write | VmaFlags.Exec)) == 0;
            if (entry.IsWritable && !writable)
                Fail($"The entry for 0x{va:x} ({entry.Flags}) is writable in VMA {Vma}, which is not.");
            if (entry.IsProtNone != none)
                Fail($"The entry for 0x{va:x} ({entry.Flags}) is {(entry.IsProtNone ? "" : "not ")}PROT_NONE in VMA {Vma}, which is {(none ? "" : "not ")}PROT_NONE.");
        }

        /// <summary>The folio is live and anonymous, of the VMA's anon_vma tree, and its index puts this page here.</summary>
        private readonly void CheckFolioHere(uint headPfn, ulong va, int page)
        {
            PageDescriptor* head = _pages + headPfn;
            if (head->Refcount <= 0 || head->HasPageType || head->IsTail)
                Fail($"0x{va:x} maps PFN 0x{headPfn + (uint)page:x}, whose folio at 0x{headPfn:x} is not live.");
            if ((head->Mapping & PageDescriptor.MappingAnon) == 0)
                Fail($"0x{va:x} maps a folio at PFN 0x{headPfn:x} whose mapping word 0x{head->Mapping:x} is not anonymous.");
            uint anonVma = (uint)(head->Mapping >> 1);
            if (Vma.AnonVma == 0 || machine.AnonVmas.RootOf(anonVma) != machine.AnonVmas.RootOf(Vma.AnonVma))
                Fail($"0x{va:x} maps a folio at PFN 0x{headPfn:x} of anon_vma {anonVma} (root {machine.AnonVmas.RootOf(anonVma)}) in VMA {Vma}, which is not in that anon_vma's tree.");
            if (head->Index + (ulong)page != Vma.PageIndexOf(va))
                Fail($"0x{va:x} maps page {page} of the folio at PFN 0x{headPfn:x}, whose index 0x{head->Index:x} puts it at page offset 0x{head->Index + (ulong)page:x}; the VMA {Vma} has 0x{Vma.PageIndexOf(va):x} there.");
        }

        private readonly MmTally Tally(uint headPfn, int order)
        {
            if (!folios.TryGetValue(headPfn, out FolioTally? folio))
                folios.Add(headPfn, folio = new FolioTally(order));
            if (!folio.ByMm.TryGetValue(space.Id, out MmTally? tally))
                folio.ByMm.Add(space.Id, tally = new MmTally(order));
            return tally;
        }
    }

    /// <summary>Every PTE and PMD leaf the tree holds, wherever it is.</summary>
    private struct CountingVisitor : IPageWalkVisitor
    {
        public long Entries { get; private set; }

        public readonly WalkAction PteHole(ulong address, ulong limit, PageTableLevel level) => WalkAction.Continue;

        public WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit)
        {
            if (!pmd.Value.IsLeafPmd)
                return WalkAction.Subtree;
            Entries++;
            return WalkAction.Continue;
        }

        public WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit)
        {
            Pte* slot = table.Slot(address);
            for (ulong va = address; va < limit; va += PageGeometry.PageSize, slot++)
                Entries += slot->IsNone ? 0 : 1;
            return WalkAction.Continue;
        }
    }

    private static void CheckFolio(PageDescriptor* pages, uint headPfn, FolioTally tally, Machine machine)
    {
        PageDescriptor* head = pages + headPfn;
        int nr = 1 << tally.Order;
        string where = $"The folio at PFN 0x{headPfn:x} order {tally.Order}";
        int ptes = 0;
        int pmds = 0;
        var perPage = new int[nr];
        var mmsPerPage = new int[nr];
        foreach (MmTally mm in tally.ByMm.Values)
        {
            ptes += mm.Ptes;
            pmds += mm.Pmds;
            for (int i = 0; i < nr; i++)
            {
                perPage[i] += mm.PerPage[i];
                if (mm.PerPage[i] > 0 || mm.Pmds > 0)
                    mmsPerPage[i]++;
            }
        }

        int refs = ptes + pmds;
        if (head->Refcount != refs)
            Fail($"{where} is mapped {refs} times (in {tally.ByMm.Count} processes) but holds {head->Refcount} references.");
        for (int i = 0; i < nr; i++)
        {
            bool exclusive = (head[i].Flags & (ulong)PageFlags.AnonExclusive) != 0;
            if (exclusive && mmsPerPage[i] > 1)
                Fail($"{where}: page {i} is AnonExclusive but {mmsPerPage[i]} processes map it.");
        }

        if (tally.Order == 0)
        {
            if (head->Mapcount != ptes - 1)
                Fail($"{where} is mapped by {ptes} PTEs but its mapcount is {head->Mapcount} (expected {ptes - 1}).");
            return;
        }

        int pagesMapped = 0;
        for (int i = 0; i < nr; i++)
        {
            if (head[i].Mapcount != perPage[i] - 1)
                Fail($"{where}: page {i} is mapped by {perPage[i]} PTEs but its mapcount is {head[i].Mapcount}.");
            if (perPage[i] > 0)
                pagesMapped++;
        }

        PageDescriptor* second = head + 1;
        if (second->EntireMapcount != pmds - 1)
            Fail($"{where}: {pmds} PMD mappings but entire_mapcount {second->EntireMapcount}.");
        if (second->LargeMapcount != refs - 1)
            Fail($"{where}: {refs} mappings but large_mapcount {second->LargeMapcount} (expected {refs - 1}).");
        int expectedMapped = pagesMapped + (pmds > 0 ? AnonRmap.EntirelyMapped : 0);
        if (second->NrPagesMapped != expectedMapped)
            Fail($"{where}: nr_pages_mapped is 0x{second->NrPagesMapped:x}; expected 0x{expectedMapped:x} ({pagesMapped} pages by PTE, {pmds} PMD).");
        if ((second->Flags & (ulong)FolioFlags.PartiallyMapped) != 0 && pages[headPfn + 2].DeferredQueue == 0)
            Fail($"{where} is flagged partially mapped but is not on the deferred-split queue.");
        CheckSlots(second, tally, machine, where);
    }

    /// <summary>
    /// The mm-id slots (<see cref="AnonRmap"/>): distinct ids; an empty slot counts -1; a slot's
    /// process is live and maps the folio at least as often as its count says (a count only ever
    /// falls short of the truth); two processes mapping the folio make it shared.
    /// </summary>
    private static void CheckSlots(PageDescriptor* second, FolioTally tally, Machine machine, string where)
    {
        uint id0 = AnonRmap.SlotMm(second, 0);
        uint id1 = AnonRmap.SlotMm(second, 1);
        if (id0 != 0 && id0 == id1)
            Fail($"{where}: both mm-id slots name address space {id0}.");
        for (int slot = 0; slot < 2; slot++)
        {
            uint id = slot == 0 ? id0 : id1;
            int count = AnonRmap.SlotMapcount(second, slot);
            if (id == 0)
            {
                if (count != -1)
                    Fail($"{where}: mm-id slot {slot} is empty but counts {count}; expected -1.");
                continue;
            }

            int mappings = tally.ByMm.TryGetValue(id, out MmTally? mm) ? mm.Ptes + mm.Pmds : 0;
            if (count < 0 || count + 1 > mappings)
                Fail($"{where}: mm-id slot {slot} says address space {id} maps it {count + 1} times; it maps it {mappings} times.");
        }

        if (tally.ByMm.Count > 1 && !AnonRmap.IsShared(second))
            Fail($"{where} is mapped by {tally.ByMm.Count} processes but its shared bit is clear.");
        _ = machine;
    }

    private static void Fail(string message) => throw new FaultPathCorruptionException(message);
}

/// <summary>What maps one folio, process by process (the validator's tally).</summary>
internal sealed class FolioTally(int order)
{
    public int Order { get; } = order;

    /// <summary>Per address space id: its PTEs and PMDs mapping the folio.</summary>
    public Dictionary<uint, MmTally> ByMm { get; } = [];
}

/// <summary>One process's mappings of one folio.</summary>
internal sealed class MmTally(int order)
{
    public int Ptes { get; set; }

    public int Pmds { get; set; }

    public int[] PerPage { get; } = new int[1 << order];
}
