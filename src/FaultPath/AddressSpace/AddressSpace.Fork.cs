using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>fork (Linux kernel/fork.c <c>dup_mm</c>, mm/mmap.c <c>dup_mmap</c>, mm/memory.c <c>copy_page_range</c>, mm/huge_memory.c <c>copy_huge_pmd</c>).</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// <c>fork</c>'s memory side (<c>dup_mmap</c>): a new address space on the same machine, a copy of
    /// this one, which shares every anonymous folio with it copy-on-write.
    /// <list type="bullet">
    /// <item>Every VMA is copied in address order with the same range, flags and page offset, except
    /// VM_DONTCOPY ones (MADV_DONTFORK), which the child does not get; nothing merges.</item>
    /// <item>A VMA with an anon_vma gets one of its own in the child, a child of the parent's in the
    /// same tree (<c>anon_vma_fork</c>), and its page tables are copied; a VM_WIPEONFORK VMA arrives
    /// empty, with none; a VMA that never had an allocating fault (its zero-page PTEs included) is not
    /// copied either (<c>vma_needs_copy</c>).</item>
    /// <item>Present PTEs are copied in folio batches (<c>copy_present_ptes</c>): the child maps the
    /// same pages, read-only and not young; the parent's entries lose their write bit; each page loses
    /// AnonExclusive and gains the child's mapping (<c>folio_try_dup_anon_rmap_ptes</c>: the child
    /// takes an mm-id slot, and the folio becomes shared); one reference per entry. A PMD THP is shared
    /// the same way by PMD (<c>copy_huge_pmd</c>), the huge zero page too, each with a PTE table
    /// deposited for the child.</item>
    /// </list>
    /// The parent's mmap lock is held for write throughout: no fault of it runs meanwhile. No counter
    /// of the mTHP statistics moves.
    /// </summary>
    /// <returns>The child address space.</returns>
    /// <exception cref="OutOfMemoryException">The arena could not hold the child's page tables (Linux: fork fails with -ENOMEM); nothing of the child is left.</exception>
    public AddressSpace Fork()
    {
        ThrowIfDisposed();
        using AddressSpaceWriteScope scope = _vmas.Lock.Write();
        ThrowIfDisposedLocked();
        AddressSpace child = _machine.CreateAddressSpace();
        try
        {
            using AddressSpaceWriteScope childScope = child._vmas.Lock.Write();
            foreach (Vma vma in _vmas)
            {
                if ((vma.Flags & VmaFlags.DontCopy) != 0)
                    continue;
                if ((vma.Flags & VmaFlags.Account) != 0 && vma.Length >> PageGeometry.PageShift > _machine.ChargeLimitPages)
                {
                    throw new SyscallException(
                        $"Cannot fork: the VMA 0x{vma.Start:x}..0x{vma.End:x} charges {vma.Length >> PageGeometry.PageShift} pages, more than the machine's {_arena.TotalPages} (heuristic overcommit; Linux's fork returns -ENOMEM).",
                        Errno.ENOMEM,
                        vma.Start);
                }

                bool wipe = (vma.Flags & VmaFlags.WipeOnFork) != 0;
                uint anonVma = wipe || vma.AnonVma == 0 ? 0 : _machine.AnonVmas.Allocate(child, vma.AnonVma);
                child._vmas.AppendForFork(Vma.Unchecked(vma.Start, vma.End, vma.Flags, vma.PageOffset, anonVma, anonVma != 0));
                if (anonVma != 0)
                    CopyPageRange(child, vma);
            }
        }
        catch (Exception e) when (e is OutOfMemoryException or SyscallException)
        {
            child.Dispose();   // exit_mmap of what was copied so far
            throw;
        }

        return child;
    }

    /// <summary>Linux <c>copy_page_range</c> of one VMA into the child, as a range walk over this address space's tables.</summary>
    private void CopyPageRange(AddressSpace child, in Vma vma)
    {
        var copy = new ForkVisitor(this, child);
        _tables.WalkRange(vma.Start, vma.End, ref copy);
    }

    private readonly struct ForkVisitor(AddressSpace parent, AddressSpace child) : IPageWalkVisitor
    {
        public WalkAction PteHole(ulong address, ulong limit, PageTableLevel level) => WalkAction.Continue;

        public WalkAction PmdEntry(in PmdSlot pmd, ulong address, ulong limit)
        {
            Pte leaf = pmd.Value;
            if (!leaf.IsLeafPmd)
                return WalkAction.Subtree;
            parent.CopyHugePmd(child, in pmd, leaf);
            return WalkAction.Continue;
        }

        public WalkAction PteRange(in PmdSlot pmd, PteTable table, ulong address, ulong limit)
        {
            parent.CopyPteRange(child, table, address, limit);
            return WalkAction.Continue;
        }
    }

    /// <summary>
    /// Linux <c>copy_huge_pmd</c>: the child gets the same leaf, read-only and old, with a PTE table
    /// deposited beside it; the parent's leaf loses its write bit. A THP gains the child's PMD
    /// mapping and a reference (its head loses AnonExclusive); the huge zero page is just shared.
    /// </summary>
    private void CopyHugePmd(AddressSpace child, in PmdSlot pmd, Pte leaf)
    {
        if (child._tables.FindPmd(pmd.Start, allocate: true, out PmdSlot childPmd) != WalkResult.Table)
            ThrowOutOfMemory(pmd.Start);
        Pte copy = leaf.Without(PteFlags.Write | PteFlags.Accessed);
        var nothing = default(NoInstallHook);
        if (child._tables.InstallPmdLeaf(in childPmd, copy, deposit: true, ref nothing) != PmdInstallResult.Installed)
            ThrowOutOfMemory(pmd.Start);
        if (leaf.IsWritable)
            _tables.TryReplacePmdLeaf(in pmd, leaf, leaf.Without(PteFlags.Write));
        if (leaf.IsSpecial)
            return;
        PageDescriptor* head = _pages + (uint)leaf.Pfn;
        AnonRmap.DupPmd(head, child._id);
        Interlocked.Increment(ref head->Refcount);
        child._rss.Add(0, 1 << PageGeometry.PmdOrder);
    }

    /// <summary>
    /// Linux <c>copy_pte_range</c> / <c>copy_present_ptes</c> over [<paramref name="address"/>,
    /// <paramref name="end"/>) of one PTE table: the child's table allocated, then each run of PTEs
    /// mapping consecutive pages of one folio shared in one step; a zero-page PTE copied as it is, old.
    /// </summary>
    private void CopyPteRange(AddressSpace child, PteTable table, ulong address, ulong end)
    {
        if (child._tables.Walk(address, allocate: true, out PteTable childTable) != WalkResult.Table)
            ThrowOutOfMemory(address);
        int count = (int)((end - address) >> PageGeometry.PageShift);
        Pte* from = table.Slot(address);
        Pte* to = childTable.Slot(address);
        long shared = 0;
        for (int i = 0; i < count;)
        {
            Pte pte = from[i];
            if (pte.IsNone)
            {
                i++;
                continue;
            }

            if (pte.IsSpecial)
            {
                to[i] = pte.Without(PteFlags.Accessed);
                i++;
                continue;
            }

            uint pfn = (uint)pte.Pfn;
            Prefetch(from, i + PrefetchDistance, count);
            uint headPfn = AnonRmap.HeadOf(_pages, pfn, out int order);
            PageDescriptor* head = _pages + headPfn;
            int nr = order == 0 ? 1 : FolioPteBatch.Count(from + i, count - i, pfn, headPfn, order);
            AnonRmap.DupPtes(head, order, (int)(pfn - headPfn), nr, child._id);
            Interlocked.Add(ref head->Refcount, nr);
            for (int j = 0; j < nr; j++)
            {
                Pte entry = from[i + j];
                if (entry.IsWritable)
                    from[i + j] = entry.Without(PteFlags.Write);
                to[i + j] = entry.Without(PteFlags.Write | PteFlags.Accessed);
            }

            shared += nr;
            i += nr;
        }

        child._rss.Add(0, shared);
    }

    /// <summary>How many entries ahead <see cref="CopyPteRange"/> asks for the page descriptor: each page's is a cache line of its own, and the atomic counts stall on a line not yet fetched.</summary>
    private const int PrefetchDistance = 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Prefetch(Pte* entries, int index, int count)
    {
        if (Sse.IsSupported && index < count)
            Sse.Prefetch0(_pages + (uint)entries[index].Pfn);
    }
}
