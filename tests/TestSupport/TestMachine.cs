using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using Xunit;

namespace LargeFolios.TestSupport;

/// <summary>
/// An arena and a machine on it, for a test or benchmark that creates its address spaces itself
/// (several, one per pass, or one it disposes on its own). Disposed in the order the API requires
/// (the machine, then the arena); <see cref="TearDownAndAssertNoLeak"/> checks that every page came
/// back and merged.
/// </summary>
public sealed class TestMachine : IDisposable
{
    /// <summary>The arena a fault-path test gets unless it asks for another size: 64 MiB.</summary>
    public const long DefaultArenaBytes = 64L << 20;

    private bool _disposed;

    /// <summary>
    /// A new arena of <paramref name="arenaBytes"/>, metadata only unless <paramref name="metadataOnly"/>
    /// is false (<paramref name="options"/>, when given, instead), and a machine on it.
    /// </summary>
    public TestMachine(long arenaBytes = DefaultArenaBytes, bool metadataOnly = true, ArenaOptions? options = null)
        : this(new Arena(arenaBytes, options: options ?? new ArenaOptions { MetadataOnly = metadataOnly }))
    {
    }

    /// <summary>
    /// A machine on <paramref name="arena"/>, which this takes over: disposing this disposes it. For an
    /// arena that must be prepared (dirtied, made resident) before the machine takes its zero page.
    /// </summary>
    public TestMachine(Arena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        Arena = arena;
        Machine = new Machine(arena);
    }

    /// <summary>The arena the machine draws from.</summary>
    public Arena Arena { get; }

    /// <summary>The machine on <see cref="Arena"/>.</summary>
    public Machine Machine { get; }

    /// <summary>The machine's THP settings.</summary>
    public ThpPolicy Policy => Machine.Policy;

    /// <summary>The mTHP counter <paramref name="item"/> of <paramref name="order"/>.</summary>
    public long Stat(int order, MthpStatItem item) => Machine.MthpStats.Get(order, item);

    /// <summary>The event counter <paramref name="item"/>.</summary>
    public long Event(VmEvent item) => Machine.Events.Get(item);

    /// <summary>
    /// With every address space disposed, the arena lends out only the machine's zero pages (the
    /// 4 KiB one, and the huge one if a fault made it) and the machine keeps every invariant.
    /// </summary>
    public void AssertOnlyZeroPagesLeft()
    {
        Arena.DrainPerCpuCaches();
        long zeroPages = 1 + (Machine.HugeZeroFolio is null ? 0 : 1 << PageGeometry.PmdOrder);
        Assert.Equal(Arena.TotalPages - zeroPages, Arena.FreePages);
        Machine.Validate();
    }

    /// <summary>
    /// Disposes the machine (every address space must be disposed already) and asserts that the
    /// arena is whole again (<see cref="ArenaAssert.FullyMerged"/>), then disposes it.
    /// </summary>
    public void TearDownAndAssertNoLeak()
    {
        Machine.Dispose();
        ArenaAssert.FullyMerged(Arena);
        Arena.Dispose();
        _disposed = true;
    }

    /// <summary>Disposes the machine and the arena.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        try
        {
            Machine.Dispose();
        }
        finally
        {
            // A failed test may leave an address space alive, which the machine refuses to be
            // disposed under; the arena's native memory is released all the same.
            Arena.Dispose();
        }
    }
}
