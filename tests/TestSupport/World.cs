using System;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;

namespace LargeFolios.TestSupport;

/// <summary>
/// An arena, a machine on it and one address space, disposed in the order the API requires
/// (the address space, the machine, the arena). <see cref="TearDownAndAssertNoLeak"/> checks that
/// every page came back and merged.
/// </summary>
public sealed class World : IDisposable
{
    private readonly TestMachine _testMachine;

    /// <summary>
    /// A new arena of <paramref name="arenaBytes"/>, metadata only unless <paramref name="metadataOnly"/>
    /// is false (<paramref name="options"/>, when given, instead), a machine on it and an empty address space.
    /// </summary>
    public World(long arenaBytes = TestMachine.DefaultArenaBytes, bool metadataOnly = true, ArenaOptions? options = null)
        : this(new TestMachine(arenaBytes, metadataOnly, options))
    {
    }

    /// <summary>
    /// An empty address space on <paramref name="testMachine"/>, which this takes over: disposing
    /// this disposes it. For a machine that must be set up (its policy, say) before the address
    /// space exists.
    /// </summary>
    public World(TestMachine testMachine)
    {
        ArgumentNullException.ThrowIfNull(testMachine);
        _testMachine = testMachine;
        Mm = testMachine.Machine.CreateAddressSpace();
    }

    /// <summary>The arena the machine draws from.</summary>
    public Arena Arena => _testMachine.Arena;

    /// <summary>The machine on <see cref="Arena"/>.</summary>
    public Machine Machine => _testMachine.Machine;

    /// <summary>The one address space.</summary>
    public AddressSpace Mm { get; }

    /// <summary>The machine's THP settings.</summary>
    public ThpPolicy Policy => Machine.Policy;

    /// <summary>The mTHP counter <paramref name="item"/> of <paramref name="order"/>.</summary>
    public long Stat(int order, MthpStatItem item) => _testMachine.Stat(order, item);

    /// <summary>The event counter <paramref name="item"/>.</summary>
    public long Event(VmEvent item) => _testMachine.Event(item);

    /// <summary>Disposes the address space and the machine, and asserts that the arena is whole again (<see cref="ArenaAssert.FullyMerged"/>).</summary>
    public void TearDownAndAssertNoLeak()
    {
        Mm.Dispose();
        _testMachine.TearDownAndAssertNoLeak();
    }

    /// <summary>Disposes the address space, the machine and the arena.</summary>
    public void Dispose()
    {
        Mm.Dispose();
        _testMachine.Dispose();
    }
}
