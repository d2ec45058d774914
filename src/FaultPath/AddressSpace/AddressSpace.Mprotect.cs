using System;
using System.Collections.Generic;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>mprotect (Linux mm/mprotect.c: <c>do_mprotect_pkey</c>, <c>mprotect_fixup</c>, <c>change_protection</c>).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// <c>mprotect(start, length, prot)</c>. Linux's checks first, in its order: an unaligned start is
    /// EINVAL; a zero length does nothing; a length that overflows when rounded up to pages, or past
    /// the end of the address space, is ENOMEM; a range that starts in a hole is ENOMEM with nothing
    /// changed. Then each VMA from <paramref name="start"/> on gets the protection (VMAs split where the
    /// range cuts them and merged where they now match, <see cref="VmaSet.Protect{THook}"/>; a PMD
    /// leaf across a new boundary split first), and its entries follow (<see cref="ChangeProtection"/>).
    /// A hole later in the range stops the walk: what came before it stays changed, and the call
    /// fails with ENOMEM, as Linux's does.
    /// </summary>
    /// <exception cref="BadAddressException">EINVAL or ENOMEM as above (<see cref="BadAddressException.Errno"/>).</exception>
    /// <exception cref="ArgumentOutOfRangeException">Not a protection a scenario names.</exception>
    public void Mprotect(ulong start, ulong length, MemoryProtection protection)
    {
        ThrowIfDisposed();
        ulong end = SyscallChecks.Mprotect(start, length, out bool empty);
        if (empty)
            return;
        ulong aligned = end - start;
        VmaFlags access = ProtectionFlags(protection);

        using AddressSpaceWriteScope scope = _vmas.Lock.Write();
        ThrowIfDisposedLocked();
        var boundaries = new PmdBoundaryHook(this);
        var changed = new List<Vma>();
        bool reached;
        try
        {
            reached = _vmas.Protect(start, aligned, access, ref boundaries, changed, chargeLimitPages: _machine.ChargeLimitPages);
        }
        finally
        {
            // A charge refused part way (heuristic overcommit) leaves the VMAs before it changed, as Linux does.
            foreach (Vma piece in changed)
                ChangeProtection(piece.Start, piece.End, piece.Flags);
        }

        if (!reached)
        {
            throw new BadAddressException(
                $"Cannot mprotect 0x{start:x}..0x{start + aligned:x} to {protection}: a hole ends the mapped part; expected the whole range mapped (Linux returns -ENOMEM, the part before the hole changed).",
                start,
                length,
                Errno.ENOMEM);
        }
    }

    /// <summary>
    /// Linux <c>change_protection</c> over [<paramref name="start"/>, <paramref name="end"/>) of a VMA
    /// that now has <paramref name="flags"/>, as a range walk (<see cref="ProtectionVisitor"/>): every
    /// present entry takes the VMA's protection (PROT_NONE keeps the page mapped); where the VMA is
    /// writable, an entry whose page is AnonExclusive becomes writable at once (MM_CP_TRY_CHANGE_WRITABLE,
    /// <c>can_change_pte_writable</c>), any other stays read-only until a write fault decides. A PMD
    /// leaf stays a leaf, its dirty bit dropped (x86 <c>pmd_modify</c>); the zero pages never become
    /// writable.
    /// </summary>
    private void ChangeProtection(ulong start, ulong end, VmaFlags flags)
    {
        var change = new ProtectionVisitor(this, flags);
        _tables.WalkRange(start, end, ref change);
    }

    /// <summary>The entry bits a VMA's protection gives (Linux <c>vm_page_prot</c>: a private writable VMA's is read-only; the write bit is the entry's own).</summary>
    private static PteFlags ProtectionBits(VmaFlags flags) =>
        (flags & (VmaFlags.Read | VmaFlags.Write | VmaFlags.Exec)) == 0 ? PteFlags.ProtNone : PteFlags.User;

    private readonly struct ProtectionVisitor(AddressSpace space, VmaFlags flags) : IPageWalkVisitor
    {
        private const PteFlags Protection = PteFlags.User | PteFlags.Write | PteFlags.ProtNone;
        private readonly PteFlags _bits = ProtectionBits(flags);
        private readonly bool _tryWritable = (flags & VmaFlags.Write) != 0;

        public WalkAction PteHole(ulong address, ulong limit, PageTableLevel level) => WalkAction.Continue;

        public WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit)
        {
            Pte leaf = pmd.Value;
            if (!leaf.IsLeafPmd)
                return WalkAction.Subtree;
            if (!pmd.CoversWhole(address, limit))
            {
                // change_pmd_range: a leaf the range covers in part is split, then changed by PTEs.
                if (space.SplitHugePmd(in pmd) == PmdSplitResult.OutOfMemory)
                    ThrowOutOfMemory(address);
                return WalkAction.Again;
            }

            Pte changed = leaf.Without(Protection | PteFlags.Dirty).With(_bits);
            if (_tryWritable && !leaf.IsSpecial && (space._pages[leaf.Pfn].Flags & (ulong)PageFlags.AnonExclusive) != 0)
                changed = changed.With(PteFlags.Write);
            return space._tables.TryReplacePmdLeaf(in pmd, leaf, changed) ? WalkAction.Continue : WalkAction.Again;
        }

        public WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit)
        {
            int count = (int)((limit - address) >> PageGeometry.PageShift);
            table.Lock();
            Pte* slot = table.Slot(address);
            for (int i = 0; i < count;)
            {
                Pte pte = slot[i];
                if (!pte.IsPresent)
                {
                    i++;
                    continue;
                }

                int nr = space.ProtectionBatch(slot + i, count - i, pte);
                for (int j = 0; j < nr; j++)
                {
                    Pte changed = slot[i + j].Without(Protection).With(_bits);
                    if (_tryWritable && !pte.IsSpecial && (space._pages[slot[i + j].Pfn].Flags & (ulong)PageFlags.AnonExclusive) != 0)
                        changed = changed.With(PteFlags.Write);
                    slot[i + j] = changed;
                }

                i += nr;
            }

            table.Unlock();
            return WalkAction.Continue;
        }
    }

    /// <summary>
    /// Linux <c>mprotect_folio_pte_batch</c> and <c>modify_prot_start_ptes</c>: the run of PTEs from
    /// <paramref name="slot"/> mapping consecutive pages of one large folio with the same write bit;
    /// the dirty and accessed bits of the run are gathered into every PTE of it (so a clean page of a
    /// run with a dirty one comes out dirty). One PTE for the zero page or an order-0 folio.
    /// </summary>
    private int ProtectionBatch(Pte* slot, int limit, Pte first)
    {
        const PteFlags Gathered = PteFlags.Dirty | PteFlags.Accessed;
        if (first.IsSpecial || limit == 1)
            return 1;
        uint pfn = (uint)first.Pfn;
        uint headPfn = AnonRmap.HeadOf(_pages, pfn, out int order);
        if (order == 0)
            return 1;
        int nr = 1;
        int most = Math.Min(limit, (1 << order) - (int)(pfn - headPfn));
        PteFlags gathered = first.Flags & Gathered;
        bool mixed = false;
        while (nr < most)
        {
            Pte next = slot[nr];
            if (!next.IsPresent || next.IsSpecial || next.Pfn != pfn + (ulong)nr || next.IsWritable != first.IsWritable)
                break;
            mixed |= (next.Flags & Gathered) != gathered;
            gathered |= next.Flags & Gathered;
            nr++;
        }

        if (mixed)
        {
            for (int j = 0; j < nr; j++)
                slot[j] = slot[j].With(gathered);
        }

        return nr;
    }

    /// <summary>
    /// Linux <c>vma_adjust_trans_huge</c> at a VMA split (<c>split_huge_pmd_if_needed</c>): a boundary
    /// that is not 2 MiB aligned, inside a 2 MiB range the VMA holds whole, splits a PMD leaf there into
    /// PTEs (the folio stays large), before the VMA's protection or advice changes.
    /// </summary>
    private readonly struct PmdBoundaryHook(AddressSpace space) : IVmaSplitHook
    {
        public void BeforeSplit(in Vma vma, ulong address)
        {
            ulong haddr = address & ~(VirtualAddress.PmdSize - 1);
            if (haddr == address || haddr < vma.Start || haddr + VirtualAddress.PmdSize > vma.End)
                return;
            if (space._tables.FindPmd(haddr, allocate: false, out PmdSlot pmd) == WalkResult.Table && pmd.Value.IsLeafPmd
                && space.SplitHugePmd(in pmd) == PmdSplitResult.OutOfMemory)
                ThrowOutOfMemory(address);
        }
    }
}
