using System.Collections.Generic;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>
/// Checks an address space against its mappings: the VMAs and page tables themselves, then every
/// entry that maps something, then every folio those entries map (its rmap counts and
/// references must equal what the tables show, as <see cref="AnonRmap"/> states them), then the
/// counters. The address space must be quiescent.
/// </summary>
internal static unsafe class AddressSpaceValidator
{
    public static void Validate(AddressSpace space, PageDescriptor* pages, uint zeroPfn, uint hugeZeroPfn, ulong owner)
    {
        VmaSet vmas = space.VmaSet;
        PageTableTree tables = space.Tables;
        vmas.Validate();
        tables.Validate();

        var mappings = new MappingVisitor(pages, zeroPfn, hugeZeroPfn, owner);
        foreach (Vma vma in vmas)
        {
            mappings.Vma = vma;
            tables.WalkRange(vma.Start, vma.End, ref mappings);
        }

        var everything = new CountingVisitor();
        tables.WalkRange(0, VirtualAddress.TaskSize, ref everything);
        if (everything.Entries != mappings.Entries)
            Fail($"The page tables hold {everything.Entries} mappings but only {mappings.Entries} lie inside VMAs: something outside every VMA is still mapped.");

        foreach (var (headPfn, tally) in mappings.Folios)
            CheckFolio(pages, headPfn, tally);

        if (mappings.AnonPages != space.AnonPages)
            Fail($"Address space {space.Id}: the tables map {mappings.AnonPages} anonymous pages but MM_ANONPAGES says {space.AnonPages}.");
    }

    /// <summary>Every entry inside one VMA: what it maps, checked, and tallied per folio.</summary>
    private struct MappingVisitor(PageDescriptor* pages, uint zeroPfn, uint hugeZeroPfn, ulong owner) : IPageWalkVisitor
    {
        public Vma Vma;

        public Dictionary<uint, Tally> Folios { get; } = [];

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
            if (leaf.IsSpecial)
            {
                if (leaf.Pfn != hugeZeroPfn || leaf.IsWritable)
                    Fail($"The special PMD leaf at 0x{haddr:x} maps PFN 0x{leaf.Pfn:x} ({leaf.Flags}); expected the read-only huge zero page 0x{hugeZeroPfn:x}.");
                return WalkAction.Continue;
            }

            uint head = (uint)leaf.Pfn;
            CheckOwner(pages, head, owner, haddr, 0);
            if (!pages[head].IsHead || pages[head + 1].FolioOrder != PageGeometry.PmdOrder)
                Fail($"The PMD leaf at 0x{haddr:x} maps PFN 0x{head:x}, which does not head a PMD-order folio.");
            if (leaf.IsWritable != Writable)
                Fail($"The PMD leaf at 0x{haddr:x} is {(leaf.IsWritable ? "" : "not ")}writable in a VMA that is {(Writable ? "" : "not ")}writable.");
            Get(Folios, head, PageGeometry.PmdOrder).Pmds++;
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
                if (pte.IsSpecial)
                {
                    if (pte.Pfn != zeroPfn || pte.IsWritable)
                        Fail($"The special PTE for 0x{va:x} maps PFN 0x{pte.Pfn:x} ({pte.Flags}); expected the read-only zero page 0x{zeroPfn:x}.");
                    continue;
                }

                uint pfn = (uint)pte.Pfn;
                uint headPfn = AnonRmap.HeadOf(pages, pfn, out int order);
                CheckOwner(pages, headPfn, owner, va, (int)(pfn - headPfn));
                if (pte.IsWritable != Writable)
                    Fail($"The PTE for 0x{va:x} is {(pte.IsWritable ? "" : "not ")}writable in a VMA that is {(Writable ? "" : "not ")}writable.");
                if ((pages[pfn].Flags & (ulong)PageFlags.AnonExclusive) == 0)
                    Fail($"PFN 0x{pfn:x}, mapped at 0x{va:x}, is not marked AnonExclusive.");
                Tally tally = Get(Folios, headPfn, order);
                tally.Ptes++;
                tally.PerPage[pfn - headPfn]++;
                AnonPages++;
            }

            return WalkAction.Continue;
        }

        private readonly bool Writable => (Vma.Flags & VmaFlags.Write) != 0;
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

    private static void CheckOwner(PageDescriptor* pages, uint headPfn, ulong owner, ulong va, int page)
    {
        PageDescriptor* head = pages + headPfn;
        if (head->Refcount <= 0 || head->HasPageType || head->IsTail)
            Fail($"0x{va:x} maps PFN 0x{headPfn + (uint)page:x}, whose folio at 0x{headPfn:x} is not live.");
        if (head->Mapping != owner)
            Fail($"0x{va:x} maps a folio at PFN 0x{headPfn:x} whose mapping word is 0x{head->Mapping:x}; expected 0x{owner:x} (this address space, anonymous).");
        if ((head->Index + (ulong)page) << PageGeometry.PageShift != va)
            Fail($"0x{va:x} maps page {page} of the folio at PFN 0x{headPfn:x}, whose index says it lives at 0x{(head->Index + (ulong)page) << PageGeometry.PageShift:x}.");
    }

    private static void CheckFolio(PageDescriptor* pages, uint headPfn, Tally tally)
    {
        PageDescriptor* head = pages + headPfn;
        int nr = 1 << tally.Order;
        int refs = tally.Ptes + tally.Pmds;
        string where = $"The folio at PFN 0x{headPfn:x} order {tally.Order}";
        if (head->Refcount != refs)
            Fail($"{where} is mapped {refs} times but holds {head->Refcount} references.");
        if (tally.Order == 0)
        {
            if (head->Mapcount != tally.Ptes - 1)
                Fail($"{where} is mapped by {tally.Ptes} PTEs but its mapcount is {head->Mapcount} (expected {tally.Ptes - 1}).");
            return;
        }

        int pagesMapped = 0;
        for (int i = 0; i < nr; i++)
        {
            if (head[i].Mapcount != tally.PerPage[i] - 1)
                Fail($"{where}: page {i} is mapped by {tally.PerPage[i]} PTEs but its mapcount is {head[i].Mapcount}.");
            if (tally.PerPage[i] > 0)
                pagesMapped++;
        }

        PageDescriptor* second = head + 1;
        if (second->EntireMapcount != tally.Pmds - 1)
            Fail($"{where}: {tally.Pmds} PMD mappings but entire_mapcount {second->EntireMapcount}.");
        if (second->LargeMapcount != refs - 1)
            Fail($"{where}: {refs} mappings but large_mapcount {second->LargeMapcount} (expected {refs - 1}).");
        int expectedMapped = pagesMapped + (tally.Pmds * AnonRmap.EntirelyMapped);
        if (second->NrPagesMapped != expectedMapped)
            Fail($"{where}: nr_pages_mapped is 0x{second->NrPagesMapped:x}; expected 0x{expectedMapped:x} ({pagesMapped} pages by PTE, {tally.Pmds} PMD).");
        if ((second->Flags & (ulong)FolioFlags.PartiallyMapped) != 0 && pages[headPfn + 2].DeferredQueue == 0)
            Fail($"{where} is flagged partially mapped but is not on the deferred-split queue.");
    }

    private static Tally Get(Dictionary<uint, Tally> folios, uint headPfn, int order)
    {
        if (!folios.TryGetValue(headPfn, out Tally? tally))
            folios.Add(headPfn, tally = new Tally(order));
        return tally;
    }

    private static void Fail(string message) => throw new FaultPathCorruptionException(message);

    private sealed class Tally(int order)
    {
        public int Order { get; } = order;

        public int Ptes { get; set; }

        public int Pmds { get; set; }

        public int[] PerPage { get; } = new int[1 << order];
    }
}
