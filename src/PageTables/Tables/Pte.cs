using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// A page-table entry (Linux <c>pte_t</c>), eight bytes as the MMU reads them: PFN &lt;&lt; 12 plus
/// <see cref="PteFlags"/>. The none entry (<see cref="None"/>, Linux <c>pte_none</c>) is all zeros,
/// which is what lets <see cref="PteScan"/> test many entries with one vector compare.
/// </summary>
[DebuggerDisplay("{ToString(),nq}")]
public readonly struct Pte : IEquatable<Pte>
{
    /// <summary>Bits 12..51: the page frame number (x86 PTE_PFN_MASK).</summary>
    public const ulong PfnMask = 0x000F_FFFF_FFFF_F000;

    /// <summary>The raw entry.</summary>
    public readonly ulong Value;

    /// <summary>Wraps a raw entry.</summary>
    public Pte(ulong value) => Value = value;

    /// <summary>The none entry: nothing mapped, no table.</summary>
    public static Pte None => default;

    /// <summary>An entry mapping <paramref name="pfn"/> with <paramref name="flags"/> (Linux <c>pfn_pte</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pte Make(ulong pfn, PteFlags flags) => new((pfn << PageGeometry.PageShift) & PfnMask | (ulong)flags);

    /// <summary>Linux <c>pte_none</c>.</summary>
    public bool IsNone => Value == 0;

    /// <summary>Linux <c>pte_present</c>.</summary>
    public bool IsPresent => (Value & (ulong)PteFlags.Present) != 0;

    /// <summary>Linux <c>pte_write</c>.</summary>
    public bool IsWritable => (Value & (ulong)PteFlags.Write) != 0;

    /// <summary>Linux <c>pte_dirty</c>.</summary>
    public bool IsDirty => (Value & (ulong)PteFlags.Dirty) != 0;

    /// <summary>Linux <c>pte_young</c>.</summary>
    public bool IsAccessed => (Value & (ulong)PteFlags.Accessed) != 0;

    /// <summary>The entry of a PROT_NONE mapping (<see cref="PteFlags.ProtNone"/>): it still maps its page.</summary>
    public bool IsProtNone => (Value & (ulong)PteFlags.ProtNone) != 0;

    /// <summary>Linux <c>pte_special</c>: maps a page with no folio behind it (the zero page).</summary>
    public bool IsSpecial => (Value & (ulong)PteFlags.Special) != 0;

    /// <summary>In a PMD entry: a present 2 MiB leaf (Linux <c>pmd_leaf</c>/<c>pmd_trans_huge</c>).</summary>
    public bool IsLeafPmd => (Value & ((ulong)PteFlags.Present | (ulong)PteFlags.Huge)) == ((ulong)PteFlags.Present | (ulong)PteFlags.Huge);

    /// <summary>In an upper-level entry: present and pointing at a next-level table.</summary>
    public bool IsTable => (Value & ((ulong)PteFlags.Present | (ulong)PteFlags.Huge)) == (ulong)PteFlags.Present;

    /// <summary>The page frame number (Linux <c>pte_pfn</c>).</summary>
    public ulong Pfn => (Value & PfnMask) >> PageGeometry.PageShift;

    /// <summary>The flag bits.</summary>
    public PteFlags Flags => (PteFlags)(Value & ~PfnMask);

    /// <summary>The same entry for the next page (how <c>set_ptes</c> steps through a folio).</summary>
    public Pte NextPage => new(Value + PageGeometry.PageSize);

    /// <summary>Adds flags (Linux <c>pte_mkdirty</c>, <c>pte_mkyoung</c>, <c>pte_mkwrite</c>).</summary>
    public Pte With(PteFlags flags) => new(Value | (ulong)flags);

    /// <summary>Removes flags (Linux <c>pte_wrprotect</c>, <c>pte_mkclean</c>, <c>pte_mkold</c>).</summary>
    public Pte Without(PteFlags flags) => new(Value & ~(ulong)flags);

    /// <inheritdoc/>
    public bool Equals(Pte other) => Value == other.Value;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Pte other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => Value.GetHashCode();

    /// <summary>Entry equality.</summary>
    public static bool operator ==(Pte left, Pte right) => left.Value == right.Value;

    /// <summary>Entry inequality.</summary>
    public static bool operator !=(Pte left, Pte right) => left.Value != right.Value;

    /// <summary>"none", or the PFN and flags.</summary>
    public override string ToString() => IsNone ? "none" : $"pfn 0x{Pfn:x} {Flags}";
}
