using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// One PTE table: 512 entries in one arena page, and its split lock (Linux <c>ptdesc->ptl</c>,
/// which lives in the table page's descriptor, in the word Linux gives it: offset 40). Faults in
/// different 2 MiB regions take different locks and never contend.
/// </summary>
/// <remarks>
/// Lock roles (as Linux's <c>pte_offset_map_lock</c>):
/// <list type="table">
/// <item><term>reader</term><description>may read entries without the lock (one 8-byte load is
/// atomic, as <c>ptep_get</c>), but must re-check under it before acting on what it read.</description></item>
/// <item><term>writer</term><description>holds the lock to change any entry
/// (<see cref="PageTableTree.SetPtes"/>; a zap, a split, a fault).</description></item>
/// <item><term>table free</term><description>only with no walker in the range: the caller holds the
/// address-space lock for writing (<see cref="PageTableTree.FreePageTables"/>).</description></item>
/// </list>
/// </remarks>
public readonly unsafe struct PteTable
{
    private readonly Pte* _entries;
    private readonly PageDescriptor* _descriptor;

    internal PteTable(uint pfn, Pte* entries, PageDescriptor* descriptor)
    {
        Pfn = pfn;
        _entries = entries;
        _descriptor = descriptor;
    }

    /// <summary>The PFN of the table page.</summary>
    public uint Pfn { get; }

    /// <summary>The 512 entries, lowest address first; empty for the default value (no table).</summary>
    /// <remarks>Change entries only under <see cref="Lock"/>, as the lock roles above say.</remarks>
    public Span<Pte> Entries => new(_entries, _entries == null ? 0 : VirtualAddress.EntriesPerTable);

    /// <summary>False for the default value (no table).</summary>
    public bool IsValid => _entries != null;

    /// <summary>The entry for <paramref name="address"/> (its bits 12..20 pick the slot).</summary>
    /// <exception cref="InvalidOperationException">This is the default value, which has no entries.</exception>
    public ref Pte At(ulong address)
    {
        ThrowIfInvalid();
        return ref _entries[VirtualAddress.PteIndex(address)];
    }

    /// <summary>
    /// The <paramref name="count"/> entries from the one for <paramref name="address"/> up: what
    /// <see cref="PteScan.AllNone(ReadOnlySpan{Pte})"/> takes for an mTHP's naturally aligned range.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or runs past the table's last entry.</exception>
    /// <exception cref="InvalidOperationException">This is the default value, which has no entries.</exception>
    public Span<Pte> Slice(ulong address, int count)
    {
        ThrowIfInvalid();
        int index = VirtualAddress.PteIndex(address);
        if ((uint)count > (uint)(VirtualAddress.EntriesPerTable - index))
            throw new ArgumentOutOfRangeException(nameof(count), count, $"{count} entries from slot {index} (address 0x{address:x}) of a {VirtualAddress.EntriesPerTable}-entry table; expected 0..{VirtualAddress.EntriesPerTable - index}.");
        return new Span<Pte>(_entries + index, count);
    }

    /// <summary>
    /// The slot for <paramref name="address"/> as a pointer, unchecked: the fault path's loops walk
    /// runs of slots with it, where the public accessors would pay a check per entry.
    /// </summary>
    [LayerInterface]
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Pte* Slot(ulong address) => _entries + VirtualAddress.PteIndex(address);

    /// <summary>Takes the table's split lock (Linux <c>spin_lock(ptl)</c>).</summary>
    public void Lock() => PtLock.Enter();

    /// <summary>Releases the table's split lock.</summary>
    public void Unlock()
    {
        Debug.Assert(PtLock.IsHeld, "unlocking a PTE table that is not locked");
        PtLock.Exit();
    }

    /// <summary>True while some thread holds the table's lock.</summary>
    public bool IsLocked => PtLock.IsHeld;

    internal ref RawSpinLock PtLock => ref LockOf(_descriptor);

    private void ThrowIfInvalid()
    {
        if (_entries == null)
            throw new InvalidOperationException("The default PteTable names no table; expected one from PageTableTree.Walk or a range walk.");
    }

    /// <summary>
    /// The split lock of any table page (PTE or PMD table): its descriptor's word at offset 40,
    /// where Linux's <c>ptdesc</c> embeds <c>ptl</c>.
    /// </summary>
    internal static ref RawSpinLock LockOf(PageDescriptor* descriptor) => ref Unsafe.As<ulong, RawSpinLock>(ref descriptor->Private);
}
