using System.Linq;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;

namespace LargeFolios.TestSupport;

/// <summary>
/// Everything a failed operation must leave as it was: the layout, the mTHP counters, the
/// memory in use, the RSS, the page tables, the deferred-split queue and the VMAs. Two states
/// compare equal when all of these are the same.
/// </summary>
/// <param name="Layout">The address space's layout, as <see cref="AddressSpace.FormatLayout"/> prints it.</param>
/// <param name="Stats">The mTHP counters, as <see cref="MthpStats.Format"/> prints them.</param>
/// <param name="FreeAndCachedPages">The arena's free pages, in the buddy core and the per-CPU caches.</param>
/// <param name="AnonPages">The address space's resident anonymous pages.</param>
/// <param name="PageTablePages">The address space's page-table pages.</param>
/// <param name="DeferredQueueLength">The folios on the deferred-split queue.</param>
/// <param name="Vmas">Each VMA's range and flags.</param>
public readonly record struct MachineState(
    string Layout,
    string Stats,
    long FreeAndCachedPages,
    long AnonPages,
    long PageTablePages,
    long DeferredQueueLength,
    string Vmas)
{
    /// <summary>The state of <paramref name="world"/>'s machine and address space.</summary>
    public static MachineState Of(World world) => Of(world.Machine, world.Mm);

    /// <summary>The state of <paramref name="machine"/> and its address space <paramref name="mm"/>.</summary>
    public static MachineState Of(Machine machine, AddressSpace mm) => new(
        mm.FormatLayout(),
        machine.MthpStats.Format(),
        machine.Arena.FreePages + machine.Arena.CachedPages,
        mm.AnonPages,
        mm.PageTablePages,
        machine.DeferredSplitQueue.Length,
        string.Join(";", VmaList(mm).Select(v => $"{v.Start:x}-{v.End:x}:{v.Flags}")));

    /// <summary>The VMAs, read under the mmap lock.</summary>
    public static Vma[] VmaList(AddressSpace mm) => mm.Vmas.ToArray();
}
