using System;
using System.Diagnostics;

namespace LargeFolios.PageTables;

/// <summary>
/// One virtual memory area (Linux <c>vm_area_struct</c>, reduced to what the anonymous path reads):
/// the page-aligned range [<see cref="Start"/>, <see cref="End"/>) and its <see cref="Flags"/>. A value,
/// not a handle: a <see cref="VmaSet"/> replaces VMAs when it splits or merges them, so a copy taken
/// under the address-space lock describes the VMA as it was then and stays correct after the lock is
/// dropped, which a reference into the set would not.
/// </summary>
[DebuggerDisplay("{ToString(),nq}")]
public readonly struct Vma : IEquatable<Vma>
{
    /// <summary>
    /// Creates a VMA, checking it as Linux's <c>vma_iter_store</c> expects one: page aligned, not empty,
    /// inside user space, and flags that can coexist.
    /// </summary>
    /// <exception cref="BadAddressException">The range is unaligned, empty, reversed or beyond user space.</exception>
    /// <exception cref="ArgumentException">The flags hold unknown bits or both HugePage and NoHugePage.</exception>
    public Vma(ulong start, ulong end, VmaFlags flags)
        : this(start, end, flags, check: true)
    {
    }

    // check: false is the set's own path (its callers' ranges and flags were checked before any VMA
    // was built from them) and the validator tests' (they forge the broken VMAs the checks refuse).
    private Vma(ulong start, ulong end, VmaFlags flags, bool check)
    {
        if (check)
        {
            if (end <= start)
                AddressChecks.Throw($"Cannot describe a VMA at 0x{start:x}..0x{end:x}: the end is not above the start; expected a non-empty range.", start, 0);
            AddressChecks.CheckRange(start, end - start, "describe a VMA");
            string? invalid = VmaFlagChecks.WhyInvalid(flags);
            if (invalid != null)
                VmaFlagChecks.Throw($"Cannot describe a VMA at 0x{start:x}..0x{end:x} with {invalid}.", nameof(flags));
        }

        Start = start;
        End = end;
        Flags = flags;
    }

    /// <summary>The first address (Linux <c>vm_start</c>).</summary>
    public ulong Start { get; }

    /// <summary>The first address above the VMA (Linux <c>vm_end</c>, exclusive).</summary>
    public ulong End { get; }

    /// <summary>The VMA's flags (Linux <c>vm_flags</c>, modelled bits only).</summary>
    public VmaFlags Flags { get; }

    /// <summary>Bytes covered (Linux <c>vma->vm_end - vma->vm_start</c>).</summary>
    public ulong Length => End - Start;

    /// <summary>Whether the VMA is anonymous memory (Linux <c>vma_is_anonymous</c>).</summary>
    public bool IsAnonymous => (Flags & VmaFlags.Anonymous) != 0;

    /// <summary>Whether <paramref name="address"/> lies inside: Start &lt;= address &lt; End.</summary>
    public bool Contains(ulong address) => address >= Start && address < End;

    /// <summary>A VMA built without checks: for the set, whose callers checked first, and for forging corrupt sets in tests.</summary>
    internal static Vma Unchecked(ulong start, ulong end, VmaFlags flags) => new(start, end, flags, check: false);

    /// <summary>The same flags over [<paramref name="start"/>, <paramref name="end"/>): a piece left by a split.</summary>
    internal Vma Slice(ulong start, ulong end)
    {
        Debug.Assert(start >= Start && end <= End && start < end);
        return new Vma(start, end, Flags, check: false);
    }

    /// <summary>The same range with other flags: a piece after a flag change.</summary>
    internal Vma WithFlags(VmaFlags flags) => new(Start, End, flags, check: false);

    /// <inheritdoc/>
    public bool Equals(Vma other) => Start == other.Start && End == other.End && Flags == other.Flags;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Vma other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Start, End, Flags);

    /// <summary>Same range and flags.</summary>
    public static bool operator ==(Vma left, Vma right) => left.Equals(right);

    /// <summary>Different range or flags.</summary>
    public static bool operator !=(Vma left, Vma right) => !left.Equals(right);

    /// <summary>The range as /proc/PID/maps prints it, then the flags: "0x1000-0x3000 Read, Write, Anonymous".</summary>
    public override string ToString() => $"0x{Start:x}-0x{End:x} {Flags}";
}
