using System;
using System.Collections.Generic;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.PageTables;
using Xunit;

namespace LargeFolios.FaultPath.Tests;

/// <summary>Sizes and addresses the fault-path tests share.</summary>
internal static class Sizes
{
    public const long MiB = 1L << 20;
    public const ulong Page = 4096;
    public const ulong Pmd = 2UL << 20;

    /// <summary>A 1 GiB aligned user address, as the scenarios use.</summary>
    public const ulong Base = 0x4000_0000;
}

/// <summary>
/// An arena, a machine on it and one address space, disposed in the order the API requires
/// (address spaces, machine, arena). <see cref="TearDownAndAssertNoLeak"/> checks that every page
/// came back and merged.
/// </summary>
internal sealed class World : IDisposable
{
    private bool _disposed;

    public World(long arenaBytes = 64 * Sizes.MiB, bool metadataOnly = true, ArenaOptions? options = null)
    {
        Arena = new Arena(arenaBytes, options: options ?? new ArenaOptions { MetadataOnly = metadataOnly });
        Machine = new Machine(Arena);
        Mm = Machine.CreateAddressSpace();
    }

    public Arena Arena { get; }

    public Machine Machine { get; }

    public AddressSpace Mm { get; }

    public ThpPolicy Policy => Machine.Policy;

    public long Stat(int order, MthpStatItem item) => Machine.MthpStats.Get(order, item);

    public long Event(VmEvent item) => Machine.Events.Get(item);

    /// <summary>Disposes the address space and the machine, drains the per-CPU caches and asserts the arena is whole again.</summary>
    public void TearDownAndAssertNoLeak()
    {
        Mm.Dispose();
        Machine.Dispose();
        AssertFullyMerged(Arena);
        Arena.Dispose();
        _disposed = true;
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Mm.Dispose();
        Machine.Dispose();
        Arena.Dispose();
    }

    /// <summary>Every page free, in the buddy core, as max-order blocks.</summary>
    public static void AssertFullyMerged(Arena arena)
    {
        arena.DrainPerCpuCaches();
        arena.Validate();
        Assert.Equal(0, arena.CachedPages);
        Assert.Equal(arena.TotalPages, arena.FreePages);
        BuddyInfo info = arena.GetBuddyInfo();
        for (int order = 0; order < info.MaxOrder; order++)
            Assert.True(info.FreeBlocks(order) == 0, $"{info.FreeBlocks(order)} free blocks of order {order} left unmerged: {info}");
        Assert.Equal(arena.TotalPages >> info.MaxOrder, info.FreeBlocks(info.MaxOrder));
    }
}

/// <summary>
/// Everything a failed operation must leave as it was: the layout, the mTHP counters, the
/// memory in use, the RSS, the page tables and the deferred-split queue.
/// </summary>
internal readonly record struct MachineState(
    string Layout,
    string Stats,
    long FreeAndCachedPages,
    long AnonPages,
    long PageTablePages,
    long DeferredQueueLength,
    string Vmas)
{
    public static MachineState Of(World world) => Of(world.Machine, world.Mm);

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

/// <summary>Checks of the layout against the page tables and the arena.</summary>
internal static class LayoutChecks
{
    /// <summary>The orders of the folio runs in [start, start + length), in address order (zero runs skipped).</summary>
    public static List<int> FolioOrders(AddressSpace mm, ulong start, ulong length) =>
        mm.GetLayout()
            .Where(r => !r.IsZero && r.Address >= start && r.Address < start + length)
            .Select(r => r.Order)
            .ToList();

    /// <summary>
    /// Every run of <see cref="AddressSpace.GetLayout"/> agrees with <see cref="AddressSpace.Translate"/>
    /// page by page; every page of the VMAs outside the runs translates to none; no folio page is
    /// mapped twice; folio runs name the order the arena gives the folio; the resident folio pages
    /// add up to <see cref="AddressSpace.AnonPages"/>.
    /// </summary>
    public static void TranslateAgreesWithLayout(Machine machine, AddressSpace mm)
    {
        IReadOnlyList<LayoutRun> runs = mm.GetLayout();
        var covered = new Dictionary<ulong, LayoutRun>();
        var pfns = new HashSet<ulong>();
        long anon = 0;
        ulong previousEnd = 0;
        uint hugeZero = machine.HugeZeroFolio is { } hz ? hz.Pfn : uint.MaxValue;
        foreach (LayoutRun run in runs)
        {
            Assert.True(run.Pages > 0, $"empty run {run}");
            Assert.True(run.Address >= previousEnd, $"run {run} overlaps or precedes the run before it");
            previousEnd = run.Address + ((ulong)run.Pages * Sizes.Page);
            for (long i = 0; i < run.Pages; i++)
            {
                ulong va = run.Address + ((ulong)i * Sizes.Page);
                covered.Add(va, run);
                Pte pte = mm.Translate(va);
                Assert.True(pte.IsPresent, $"0x{va:x} is in run {run} but translates to {pte}");
                if (run.IsZero)
                {
                    Assert.True(pte.IsSpecial, $"0x{va:x} is in zero run {run} but maps {pte}");
                    Assert.False(pte.IsWritable, $"the zero page is mapped writable at 0x{va:x}");
                    bool small = pte.Pfn == machine.ZeroPfn;
                    bool huge = pte.Pfn == hugeZero + ((va >> 12) & 511);
                    Assert.True(small || huge, $"0x{va:x} in zero run maps PFN 0x{pte.Pfn:x}, neither zero page");
                }
                else
                {
                    Assert.False(pte.IsSpecial, $"0x{va:x} is in folio run {run} but maps {pte}");
                    Assert.Equal(run.Pfn + (ulong)i, pte.Pfn);
                    Assert.True(pte.IsWritable, $"folio page at 0x{va:x} is not writable");
                    Assert.True(pfns.Add(pte.Pfn), $"PFN 0x{pte.Pfn:x} is mapped twice");
                    Assert.Equal(run.Order, machine.Arena.FolioOf((uint)pte.Pfn).Order);
                    anon++;
                }
            }
        }

        foreach (Vma vma in MachineState.VmaList(mm))
        {
            for (ulong va = vma.Start; va < vma.End; va += Sizes.Page)
            {
                if (!covered.ContainsKey(va))
                    Assert.True(mm.Translate(va).IsNone, $"0x{va:x} maps {mm.Translate(va)} but no run covers it");
            }
        }

        Assert.Equal(anon, mm.AnonPages);
    }
}
