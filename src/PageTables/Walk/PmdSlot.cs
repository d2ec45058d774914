using System.Runtime.CompilerServices;
using System.Threading;
using LargeFolios.BuddyAllocator;

namespace LargeFolios.PageTables;

/// <summary>
/// One PMD entry as a range walk hands it to its visitor: the entry's value when the walker read
/// it, the 2 MiB it covers, and (for the layers above) where it lives and whose lock guards it.
/// </summary>
public readonly unsafe struct PmdSlot
{
    internal PmdSlot(uint tablePfn, Pte* entry, Pte value, ulong address)
    {
        TablePfn = tablePfn;
        Entry = entry;
        Value = value;
        Start = VirtualAddress.PmdAlignDown(address);
    }

    /// <summary>The entry as the walker read it (one 8-byte load, no lock: re-check under the PMD lock before acting on it).</summary>
    public Pte Value { get; }

    /// <summary>The first address of the 2 MiB the entry maps.</summary>
    public ulong Start { get; }

    /// <summary>True when [<paramref name="address"/>, <paramref name="limit"/>) is the entry's whole 2 MiB.</summary>
    public bool CoversWhole(ulong address, ulong limit) => address == Start && limit - address == VirtualAddress.PmdSize;

    /// <summary>The PMD table the entry is in, whose descriptor holds the lock for it.</summary>
    [LayerInterface]
    internal uint TablePfn { get; }

    /// <summary>The entry itself.</summary>
    internal Pte* Entry { get; }

    /// <summary>The entry as it is now.</summary>
    [LayerInterface]
    internal Pte Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(Volatile.Read(ref *(ulong*)Entry));
    }
}
