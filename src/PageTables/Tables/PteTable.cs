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
    private readonly PageDescriptor* _descriptor;

    internal PteTable(uint pfn, Pte* entries, PageDescriptor* descriptor)
    {
        Pfn = pfn;
        Entries = entries;
        _descriptor = descriptor;
    }

    /// <summary>The PFN of the table page.</summary>
    public uint Pfn { get; }

    /// <summary>The 512 entries.</summary>
    public Pte* Entries { get; }

    /// <summary>False for the default value (no table).</summary>
    public bool IsValid => Entries != null;

    /// <summary>The entry slot for <paramref name="address"/> (its bits 12..20 pick the slot).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Pte* At(ulong address) => Entries + VirtualAddress.PteIndex(address);

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

    /// <summary>
    /// The split lock of any table page (PTE or PMD table): its descriptor's word at offset 40,
    /// where Linux's <c>ptdesc</c> embeds <c>ptl</c>.
    /// </summary>
    internal static ref RawSpinLock LockOf(PageDescriptor* descriptor) => ref Unsafe.As<ulong, RawSpinLock>(ref descriptor->Private);
}
