using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>Addresses, PFNs, descriptors and the folio a page belongs to.</summary>
public sealed unsafe partial class Arena
{
    /// <summary>The address of page <paramref name="pfn"/>.</summary>
    public byte* PfnToAddress(uint pfn)
    {
        ThrowIfDisposed();
        if (_memory == null)
            ThrowHelper.ThrowNoMemory();
        if (pfn >= _totalPages)
            ThrowHelper.ThrowPfnOutOfRange(pfn, _totalPages);
        return _memory + ((nuint)pfn << PageGeometry.PageShift);
    }

    /// <summary>The PFN of the page holding <paramref name="address"/>.</summary>
    public uint AddressToPfn(void* address)
    {
        ThrowIfDisposed();
        if (_memory == null)
            ThrowHelper.ThrowNoMemory();
        nuint offset = (nuint)address - (nuint)_memory;
        if ((byte*)address < _memory || offset >= _memoryBytes)
            ThrowNotInArena(address);
        return (uint)(offset >> PageGeometry.PageShift);
    }

    /// <summary>
    /// The descriptor of page <paramref name="pfn"/> (Linux <c>struct page</c>), read-only: what the
    /// allocator and the layers above keep in it, for inspection. Only the arena and those layers
    /// write descriptors, each under the rules that keep its invariants.
    /// </summary>
    public ref readonly PageDescriptor Page(uint pfn)
    {
        ThrowIfDisposed();
        if (pfn >= _totalPages)
            ThrowHelper.ThrowPfnOutOfRange(pfn, _totalPages);
        return ref _pages[pfn];
    }

    /// <summary>The live folio that page <paramref name="pfn"/> belongs to (tail -> head lookup).</summary>
    /// <exception cref="BadFolioException">The page is free.</exception>
    public Folio FolioOf(uint pfn)
    {
        if (!TryGetFolio(pfn, out Folio folio))
            ThrowHelper.ThrowBadFolio($"PFN 0x{pfn:x}{AddressText(pfn)} is free: it belongs to no folio.", BadFolioReason.AlreadyFree, pfn, -1);
        return folio;
    }

    /// <summary>The live folio holding <paramref name="address"/>.</summary>
    public Folio FolioAt(void* address) => FolioOf(AddressToPfn(address));

    /// <summary>Looks up the live folio that page <paramref name="pfn"/> belongs to.</summary>
    /// <returns>False when the page is free (in the buddy core or a per-CPU cache).</returns>
    public bool TryGetFolio(uint pfn, out Folio folio)
    {
        ThrowIfDisposed();
        if (pfn >= _totalPages)
            ThrowHelper.ThrowPfnOutOfRange(pfn, _totalPages);

        ref PageDescriptor page = ref _pages[pfn];
        uint head = page.IsTail ? page.HeadPfn : pfn;
        ref PageDescriptor headPage = ref _pages[head];
        if (Volatile.Read(ref headPage.Refcount) <= 0 || headPage.HasPageType)
        {
            folio = default;
            return false;
        }

        folio = new Folio(_id, head, headPage.IsHead ? _pages[head + 1].FolioOrder : 0);
        return true;
    }
}
