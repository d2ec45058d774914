using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;

namespace LargeFolios.FaultPath;

/// <summary>Loads and stores as the CPU makes them: the MMU's walk, the access, and the fault when it fails.</summary>
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Stores <paramref name="value"/> at <paramref name="address"/> as a CPU would: if the page is
    /// not mapped writable, a write fault first (as many as it takes).
    /// </summary>
    /// <exception cref="SegmentationFaultException">No VMA covers the address, or it is not writable; nothing changed.</exception>
    /// <exception cref="OutOfMemoryException">The fault found no memory (VM_FAULT_OOM).</exception>
    public void Write(ulong address, byte value = 1)
    {
        ThrowIfDisposed();
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        while (!TryAccess(address, write: true, value, out _))
        {
            if (FaultLocked(address, FaultAccess.Write).Kind == FaultKind.OutOfMemory)
                ThrowOutOfMemory(address);
        }
    }

    /// <summary>Loads the byte at <paramref name="address"/> as a CPU would, read-faulting first if the page is not mapped.</summary>
    /// <returns>The byte; in a metadata-only arena, 1 if the page was ever written non-zero since it was zeroed, else 0.</returns>
    /// <exception cref="SegmentationFaultException">No VMA covers the address, or it is not readable; nothing changed.</exception>
    /// <exception cref="OutOfMemoryException">The fault found no memory for a page table.</exception>
    public byte Read(ulong address)
    {
        ThrowIfDisposed();
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        byte loaded;
        while (!TryAccess(address, write: false, 0, out loaded))
        {
            if (FaultLocked(address, FaultAccess.Read).Kind == FaultKind.OutOfMemory)
                ThrowOutOfMemory(address);
        }

        return loaded;
    }

    /// <summary>
    /// The access itself, if the page tables allow it: the MMU's walk, then the load or store
    /// under the lock of the entry that maps the page. A split unmaps under that lock (Linux flushes
    /// the TLB before it looks at a page's contents), so a store is either seen by the split's
    /// all-zeros test or made after the split remapped the page, never lost in a page it freed.
    /// </summary>
    /// <returns>False when the access must fault first (nothing mapped, or read-only for a store).</returns>
    private bool TryAccess(ulong address, bool write, byte value, out byte loaded)
    {
        loaded = 0;
        if (address >= VirtualAddress.TaskSize
            || _tables.FindPmd(address, allocate: false, out PmdSlot pmd) != WalkResult.Table)
        {
            return false;
        }

        int offset = (int)(address & (PageGeometry.PageSize - 1));
        Pte leaf = pmd.Value;
        if (leaf.IsLeafPmd)
        {
            // A PROT_NONE entry maps its page (pagemap shows it) but the MMU refuses every access:
            // the fault path then finds the VMA allows none (SIGSEGV).
            if (leaf.IsProtNone || (write && !leaf.IsWritable))
                return false;
            ref RawSpinLock pmdLock = ref _tables.TableLock(pmd.TablePfn);
            pmdLock.Enter();
            bool same = pmd.Current == leaf;
            if (same)
                loaded = Access((uint)leaf.Pfn + (uint)VirtualAddress.PteIndex(address), offset, write, value);
            pmdLock.Exit();
            return same;
        }

        if (_tables.PteTableOf(in pmd, allocate: false, out PteTable table) != WalkResult.Table)
            return false;
        table.Lock();
        Pte pte = *table.Slot(address);
        bool allowed = pte.IsPresent && !pte.IsProtNone && (!write || pte.IsWritable);
        if (allowed)
            loaded = Access((uint)pte.Pfn, offset, write, value);
        table.Unlock();
        return allowed;
    }

    private byte Access(uint pfn, int offset, bool write, byte value)
    {
        if (!write)
            return _machine.Contents.Load(pfn, offset);
        _machine.Contents.Store(pfn, offset, value);
        return 0;
    }

    /// <summary>
    /// Handles one page fault at <paramref name="address"/> (Linux <c>handle_mm_fault</c>), whether or
    /// not the access would have faulted: a fault on a page already mapped as needed is spurious.
    /// </summary>
    /// <returns>What the fault did; <see cref="FaultKind.OutOfMemory"/> when it found no memory (nothing changed).</returns>
    /// <exception cref="SegmentationFaultException">No VMA covers the address, or it does not allow the access; nothing changed.</exception>
    public FaultResult HandleFault(ulong address, FaultAccess access)
    {
        ThrowIfDisposed();
        using AddressSpaceReadScope scope = _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        return FaultLocked(address, access);
    }

    /// <summary>
    /// What the page tables map at <paramref name="address"/>: the PTE, or for a PMD leaf the PTE
    /// its page would have (PFN of that page, the leaf's bits less Huge). None when nothing is mapped.
    /// </summary>
    public Pte Translate(ulong address)
    {
        ThrowIfDisposed();
        AddressChecks.CheckPage(address & ~(ulong)(PageGeometry.PageSize - 1), "translate");
        using AddressSpaceReadScope scope = _vmas.Lock.IsHeld ? default : _vmas.Lock.Read();
        ThrowIfDisposedLocked();
        return _tables.Lookup(address);
    }
}
