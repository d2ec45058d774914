using System.Collections.Generic;

namespace LargeFolios.PageTables;

/// <summary>
/// A read-only view of a <see cref="VmaSet"/>: the lookups, each under the set's lock for reading
/// (taken unless the calling thread holds the lock already), and copies that stay valid after it.
/// What an owner of the VMAs (an address space) hands out, so that a caller can see them but only
/// the owner's syscalls, which keep the page tables, rmap and counters in step, can change them.
/// </summary>
public readonly struct VmaView
{
    private readonly VmaSet _set;

    internal VmaView(VmaSet set) => _set = set;

    /// <summary>How many VMAs there are (Linux <c>mm->map_count</c>).</summary>
    public int Count
    {
        get
        {
            using AddressSpaceReadScope scope = ReadLock();
            return _set.Count;
        }
    }

    /// <summary>The VMA containing <paramref name="address"/>, if any (Linux <c>vma_lookup</c>).</summary>
    public bool TryFind(ulong address, out Vma vma)
    {
        using AddressSpaceReadScope scope = ReadLock();
        return _set.TryFind(address, out vma);
    }

    /// <summary>Every VMA that overlaps the range, whole and in address order.</summary>
    /// <exception cref="BadAddressException">The range is unaligned, empty, overflowing or beyond user space.</exception>
    public Vma[] FindIntersecting(ulong start, ulong length)
    {
        using AddressSpaceReadScope scope = ReadLock();
        return _set.FindIntersecting(start, length);
    }

    /// <summary>Every VMA in address order.</summary>
    public Vma[] ToArray()
    {
        using AddressSpaceReadScope scope = ReadLock();
        return _set.ToArray();
    }

    /// <summary>Walks a copy of the VMAs in address order.</summary>
    public IEnumerator<Vma> GetEnumerator() => ((IEnumerable<Vma>)ToArray()).GetEnumerator();

    /// <summary>Checks every invariant of the set (<see cref="VmaSet.Validate"/>).</summary>
    /// <exception cref="VmaCorruptionException">An invariant is broken.</exception>
    public void Validate() => _set.Validate();

    private AddressSpaceReadScope ReadLock() => _set.Lock.IsHeld ? default : _set.Lock.Read();
}
