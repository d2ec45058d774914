using System.Diagnostics;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>The VMA side of mremap (Linux mm/mremap.c and mm/vma.c: <c>vma_merge_extend</c>, <c>copy_vma</c>).</summary>
public sealed partial class VmaSet
{
    /// <summary>
    /// Linux <c>vma_merge_extend</c>: the VMA starting at <paramref name="start"/> grows to
    /// <paramref name="newEnd"/> in place (same start, page offset and anon_vma), and merges with the
    /// next VMA when it now touches one it merges with. The caller holds the write side and has
    /// checked that nothing is mapped in the new part.
    /// </summary>
    [LayerInterface]
    internal void ExpandInPlace(ulong start, ulong newEnd)
    {
        Debug.Assert(_lock.IsWriteHeld, "mremap changes VMAs under the write lock");
        int index = FirstEndingAbove(start);
        Vma vma = _vmas[index];
        Debug.Assert(vma.Start == start && newEnd > vma.End, "expanding a VMA that is not there, or not growing it");
        Debug.Assert(index + 1 == _vmas.Count || _vmas[index + 1].Start >= newEnd, "expanding over a mapping");
        _vmas[index] = vma.WithRange(vma.Start, newEnd, vma.PageOffset);
        MergeAround(index);
        Mutated();
    }

    /// <summary>
    /// Linux <c>copy_vma</c>: a VMA for a mremap's destination, <paramref name="vma"/> as given (the
    /// source's flags and anon_vma, its page offset at the destination), put where it lies (the caller
    /// unmapped the range first) and merged with the neighbours it merges with.
    /// </summary>
    /// <returns>The VMA that now holds the range (the merged one when it merged).</returns>
    [LayerInterface]
    internal Vma InsertMoved(Vma vma)
    {
        Debug.Assert(_lock.IsWriteHeld, "mremap changes VMAs under the write lock");
        int index = FirstEndingAbove(vma.Start);
        Debug.Assert(index == _vmas.Count || _vmas[index].Start >= vma.End, "a mremap destination that is still mapped");
        _vmas.Insert(index, vma);
        index = MergeAround(index);
        Mutated();
        return _vmas[index];
    }
}
