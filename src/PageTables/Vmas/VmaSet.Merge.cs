using System;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// When two VMAs merge, and which anon_vma a VMA takes (Linux 6.18 mm/vma.c: <c>is_mergeable_vma</c>,
/// <c>is_mergeable_anon_vma</c>, <c>can_vma_merge_after/before</c>, <c>find_mergeable_anon_vma</c>).
/// </summary>
/// <remarks>
/// <para>Two adjacent VMAs merge when their flags are equal (every modelled flag counts: VM_ACCOUNT,
/// VM_DONTCOPY, VM_WIPEONFORK and the THP advice as much as the access bits), their page offsets are
/// contiguous (left.PageOffset + left's pages == right.PageOffset: a moved VMA keeps its offset, so it
/// does not merge with a neighbour mapped where it now lies), and their anon_vmas are compatible: the
/// same, or only one has one and that one is not a forked child's (whose chain links a parent's).</para>
/// <para>Linux tries a merge only where an operation creates or changes a VMA, always with the
/// neighbours on both sides, left first; the survivor takes the anon_vma of whichever piece had one.
/// No two adjacent VMAs that satisfy these rules are ever left apart, which <see cref="Validate"/>
/// checks.</para>
/// </remarks>
public sealed partial class VmaSet
{
    private readonly Lock _anonVmaLock = new();

    /// <summary>Whether <paramref name="left"/> and the VMA right after it, <paramref name="right"/>, merge into one.</summary>
    public static bool CanMerge(in Vma left, in Vma right) =>
        left.End == right.Start
        && left.Flags == right.Flags
        && left.PageOffset + (left.Length >> PageGeometry.PageShift) == right.PageOffset
        && AnonVmasCompatible(left, right);

    /// <summary>
    /// Linux <c>is_mergeable_anon_vma</c> (both directions alike): the same anon_vma (none counts),
    /// or only one has an anon_vma and its chain is its own alone (not a forked child's).
    /// </summary>
    private static bool AnonVmasCompatible(in Vma a, in Vma b)
    {
        if (a.AnonVma != 0 && b.AnonVma != 0)
            return a.AnonVma == b.AnonVma;
        if (a.AnonVma != 0)
            return !a.InheritsAnonVma;
        return b.AnonVma == 0 || !b.InheritsAnonVma;
    }

    /// <summary>The VMA two mergeable neighbours become: the left one's offset, the anon_vma of whichever had one (<c>dup_anon_vma</c>).</summary>
    private static Vma Merged(in Vma left, in Vma right)
    {
        Debug.Assert(CanMerge(left, right), "merging VMAs that do not merge");
        Vma survivor = left.AnonVma != 0 ? left : right;
        return Vma.Unchecked(left.Start, right.End, left.Flags, left.PageOffset, survivor.AnonVma, survivor.InheritsAnonVma);
    }

    /// <summary>
    /// Merges the VMA at <paramref name="index"/> with its neighbours where they merge, the left one
    /// first (Linux <c>vma_merge_existing_range</c> / <c>vma_merge_new_range</c>).
    /// </summary>
    /// <returns>The index of the VMA that now holds the one that was at <paramref name="index"/>.</returns>
    private int MergeAround(int index)
    {
        if (index > 0 && CanMerge(_vmas[index - 1], _vmas[index]))
        {
            _vmas[index - 1] = Merged(_vmas[index - 1], _vmas[index]);
            _vmas.RemoveAt(index);
            index--;
        }

        if (index + 1 < _vmas.Count && CanMerge(_vmas[index], _vmas[index + 1]))
        {
            _vmas[index] = Merged(_vmas[index], _vmas[index + 1]);
            _vmas.RemoveAt(index + 1);
        }

        return index;
    }

    /// <summary>
    /// Linux <c>anon_vma_prepare</c> for the VMA holding <paramref name="address"/>, the caller holding
    /// the lock (a fault: the read side): the VMA's anon_vma, given one now if it has none: a
    /// neighbour's where <c>find_mergeable_anon_vma</c> finds one reusable (the next VMA's first, then
    /// the previous one's), else a new one from <paramref name="allocate"/>. Racing faults agree on one.
    /// </summary>
    /// <returns>The anon_vma's id; 0 when no VMA holds the address.</returns>
    public uint PrepareAnonVma(ulong address, Func<uint> allocate)
    {
        ArgumentNullException.ThrowIfNull(allocate);
        AssertLocked();
        int index = FirstEndingAbove(address);
        Span<Vma> vmas = CollectionsMarshal.AsSpan(_vmas);
        if (index >= vmas.Length || vmas[index].Start > address)
            return 0;
        uint anonVma = Volatile.Read(ref Vma.AnonVmaField(ref vmas[index]));
        if (anonVma != 0)
            return anonVma;
        lock (_anonVmaLock)
        {
            ref Vma vma = ref vmas[index];
            anonVma = Vma.AnonVmaField(ref vma);
            if (anonVma != 0)
                return anonVma;
            anonVma = index + 1 < vmas.Length ? ReusableAnonVma(vmas[index + 1], vma, vmas[index + 1]) : 0;
            if (anonVma == 0 && index > 0)
                anonVma = ReusableAnonVma(vmas[index - 1], vmas[index - 1], vma);
            if (anonVma == 0)
                anonVma = allocate();
            Volatile.Write(ref Vma.AnonVmaField(ref vma), anonVma);
            return anonVma;
        }
    }

    /// <summary>
    /// Linux <c>reusable_anon_vma(old, a, b)</c>: <paramref name="old"/>'s anon_vma, when it has one of
    /// its own (a singular chain) and <paramref name="a"/>, <paramref name="b"/> (a right below b) could
    /// share it: adjacent, flags equal but for the access bits, contiguous page offsets.
    /// </summary>
    private static uint ReusableAnonVma(in Vma old, in Vma a, in Vma b)
    {
        const VmaFlags Access = VmaFlags.Read | VmaFlags.Write | VmaFlags.Exec;
        bool compatible = a.End == b.Start
            && ((a.Flags ^ b.Flags) & ~Access) == 0
            && b.PageOffset == a.PageOffset + ((b.Start - a.Start) >> PageGeometry.PageShift);
        return compatible && old.AnonVma != 0 && !old.InheritsAnonVma ? old.AnonVma : 0;
    }
}
