using System;
using System.Diagnostics;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// One virtual memory area (Linux <c>vm_area_struct</c>, reduced to what the anonymous path reads):
/// the page-aligned range [<see cref="Start"/>, <see cref="End"/>), its <see cref="Flags"/>, its
/// <see cref="PageOffset"/> (<c>vm_pgoff</c>) and its anon_vma (<see cref="AnonVma"/>, and whether
/// its anon_vma chain holds a parent's, <see cref="InheritsAnonVma"/>), which together decide
/// merges and the rmap's address of a folio. A value,
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
        : this(start, end, flags, start >> PageGeometry.PageShift, 0, false, check: true)
    {
    }

    /// <summary>
    /// Creates a VMA with its page offset and anon_vma given, checked as <see cref="Vma(ulong, ulong, VmaFlags)"/> is.
    /// </summary>
    /// <param name="start">The first address.</param>
    /// <param name="end">The first address above.</param>
    /// <param name="flags">The flags.</param>
    /// <param name="pageOffset">Linux <c>vm_pgoff</c>: an anonymous mapping's is its first address in pages when mapped, kept when it moves.</param>
    /// <param name="anonVma">The anon_vma's id; 0 for none (no folio allocated in it yet).</param>
    /// <param name="inheritsAnonVma">The anon_vma chain links a parent's anon_vma too (a forked child's VMA): Linux's non-singular <c>anon_vma_chain</c>.</param>
    public Vma(ulong start, ulong end, VmaFlags flags, ulong pageOffset, uint anonVma, bool inheritsAnonVma)
        : this(start, end, flags, pageOffset, anonVma, inheritsAnonVma, check: true)
    {
    }

    // check: false is the set's own path (its callers' ranges and flags were checked before any VMA
    // was built from them) and the validator tests' (they forge the broken VMAs the checks refuse).
    private Vma(ulong start, ulong end, VmaFlags flags, ulong pageOffset, uint anonVma, bool inheritsAnonVma, bool check)
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
        PageOffset = pageOffset;
        _anonVma = anonVma;
        InheritsAnonVma = inheritsAnonVma && anonVma != 0;
    }

    /// <summary>The first address (Linux <c>vm_start</c>).</summary>
    public ulong Start { get; }

    /// <summary>The first address above the VMA (Linux <c>vm_end</c>, exclusive).</summary>
    public ulong End { get; }

    /// <summary>The VMA's flags (Linux <c>vm_flags</c>, modelled bits only).</summary>
    public VmaFlags Flags { get; }

    /// <summary>
    /// Linux <c>vm_pgoff</c>: for anonymous memory, the page index of <see cref="Start"/> in the
    /// mapping's own numbering (its address in pages when it was mapped; a split's upper piece adds
    /// its offset; a move keeps it). A folio's index is a page's number here, so the rmap finds a
    /// folio at <see cref="Start"/> + (index - PageOffset) pages in every VMA that maps it.
    /// </summary>
    public ulong PageOffset { get; }

    // A field, not an auto-property: anon_vma_prepare publishes it into a VMA that faults are reading
    // under the read side of the mmap lock (AnonVmaField), as Linux writes vma->anon_vma.
    private readonly uint _anonVma;

    /// <summary>
    /// The anon_vma the VMA's new folios belong to (an id on the machine; Linux <c>vma->anon_vma</c>):
    /// 0 until its first allocating fault (<c>anon_vma_prepare</c>) or a merge or fork gives it one.
    /// </summary>
    public uint AnonVma => _anonVma;

    /// <summary>
    /// The VMA's anon_vma chain links a parent's anon_vma besides its own (a forked child's VMA; Linux
    /// <c>!list_is_singular(&amp;vma-&gt;anon_vma_chain)</c>): such a VMA merges only with one of the same
    /// anon_vma, and no neighbour borrows its anon_vma. Always false without an anon_vma.
    /// </summary>
    public bool InheritsAnonVma { get; }

    /// <summary>Bytes covered (Linux <c>vma->vm_end - vma->vm_start</c>).</summary>
    public ulong Length => End - Start;

    /// <summary>Whether the VMA is anonymous memory (Linux <c>vma_is_anonymous</c>).</summary>
    public bool IsAnonymous => (Flags & VmaFlags.Anonymous) != 0;

    /// <summary>Whether <paramref name="address"/> lies inside: Start &lt;= address &lt; End.</summary>
    public bool Contains(ulong address) => address >= Start && address < End;

    /// <summary>The page offset of <paramref name="address"/> inside the VMA (Linux <c>linear_page_index</c>): what a folio mapped there has as its index.</summary>
    public ulong PageIndexOf(ulong address) => PageOffset + ((address - Start) >> PageGeometry.PageShift);

    /// <summary>Where page index <paramref name="index"/> lies in the VMA (Linux <c>vma_address</c>), or false when it lies outside.</summary>
    public bool TryAddressOf(ulong index, out ulong address)
    {
        ulong pages = Length >> PageGeometry.PageShift;
        if (index < PageOffset || index - PageOffset >= pages)
        {
            address = 0;
            return false;
        }

        address = Start + ((index - PageOffset) << PageGeometry.PageShift);
        return true;
    }

    /// <summary>The anon_vma word of a VMA in the set's array, for <see cref="VmaSet.PrepareAnonVma"/> to publish under the read lock.</summary>
    internal static ref uint AnonVmaField(ref Vma vma) => ref System.Runtime.CompilerServices.Unsafe.AsRef(in vma._anonVma);

    /// <summary>A VMA built without checks: for the set, whose callers checked first, and for forging corrupt sets in tests.</summary>
    internal static Vma Unchecked(ulong start, ulong end, VmaFlags flags) => new(start, end, flags, start >> PageGeometry.PageShift, 0, false, check: false);

    /// <summary>A VMA built without checks, every field given: for the set, and for a fork's copy of a parent's VMA.</summary>
    [LayerInterface]
    internal static Vma Unchecked(ulong start, ulong end, VmaFlags flags, ulong pageOffset, uint anonVma, bool inheritsAnonVma) =>
        new(start, end, flags, pageOffset, anonVma, inheritsAnonVma, check: false);

    /// <summary>The piece [<paramref name="start"/>, <paramref name="end"/>) of this VMA, as a split leaves it: the same flags and anon_vma, the page offset of its own start.</summary>
    internal Vma Slice(ulong start, ulong end)
    {
        Debug.Assert(start >= Start && end <= End && start < end);
        return new Vma(start, end, Flags, PageIndexOf(start), AnonVma, InheritsAnonVma, check: false);
    }

    /// <summary>The same range with other flags: a piece after a flag change.</summary>
    internal Vma WithFlags(VmaFlags flags) => new(Start, End, flags, PageOffset, AnonVma, InheritsAnonVma, check: false);

    /// <summary>The same VMA with an anon_vma (<c>anon_vma_prepare</c>, or a merge's <c>dup_anon_vma</c>).</summary>
    internal Vma WithAnonVma(uint anonVma, bool inherits) => new(Start, End, Flags, PageOffset, anonVma, inherits, check: false);

    /// <summary>The same VMA over another range that keeps its page offset at <paramref name="start"/>: a merge's survivor, grown or moved.</summary>
    internal Vma WithRange(ulong start, ulong end, ulong pageOffset) => new(start, end, Flags, pageOffset, AnonVma, InheritsAnonVma, check: false);

    /// <inheritdoc/>
    public bool Equals(Vma other) =>
        Start == other.Start && End == other.End && Flags == other.Flags && PageOffset == other.PageOffset
        && AnonVma == other.AnonVma && InheritsAnonVma == other.InheritsAnonVma;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Vma other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Start, End, Flags, PageOffset, AnonVma, InheritsAnonVma);

    /// <summary>Same range, flags, page offset and anon_vma.</summary>
    public static bool operator ==(Vma left, Vma right) => left.Equals(right);

    /// <summary>Different range, flags, page offset or anon_vma.</summary>
    public static bool operator !=(Vma left, Vma right) => !left.Equals(right);

    /// <summary>
    /// The range as /proc/PID/maps prints it, then the flags, and the page offset and anon_vma where
    /// they are not a fresh mapping's: "0x1000-0x3000 Read, Write, Anonymous pgoff 0x1 anon_vma 3".
    /// </summary>
    public override string ToString()
    {
        string text = $"0x{Start:x}-0x{End:x} {Flags}";
        if (PageOffset != Start >> PageGeometry.PageShift)
            text += $" pgoff 0x{PageOffset:x}";
        if (AnonVma != 0)
            text += $" anon_vma {AnonVma}{(InheritsAnonVma ? " (forked)" : "")}";
        return text;
    }
}
