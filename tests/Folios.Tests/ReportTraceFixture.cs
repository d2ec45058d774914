using System;
using System.Diagnostics.Tracing;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;
using Microsoft.Diagnostics.NETCore.Client;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// Two real traces, made once for the <see cref="ReportEventPipeCollection"/>: one of a small
/// workload whose every effect is known and recorded here from the allocator's own counters, with
/// all three of the library's providers enabled, and one of a session that saw none of their events.
/// </summary>
public sealed class ReportTraceFixture : IAsyncLifetime
{
    private const ulong KiB = 1024, MiB = 1024 * KiB, Page = 4 * KiB;

    /// <summary>The workload's regions, 1 GiB-aligned user addresses as the scenarios use, one per policy: 4 MiB under 64K mTHP.</summary>
    public const ulong MthpRegion = 0x4000_0000;

    /// <summary>64 KiB under 16K mTHP.</summary>
    public const ulong SmallRegion = 0x8000_0000;

    /// <summary>2 MiB under PMD THP.</summary>
    public const ulong PmdRegion = 0xC000_0000;

    // Every keyword of each provider, as folios trace --keywords all enables them.
    private static readonly (string Name, EventKeywords Keywords, EventSource? Source)[] s_libraryProviders =
    [
        (AllocatorEventSource.ProviderName, AllocatorEventSource.AllKeywords, AllocatorEventSource.Log),
        (PageTableEventSource.ProviderName, PageTableEventSource.AllKeywords, PageTableEventSource.Log),
        (FaultPathEventSource.ProviderName, FaultPathEventSource.AllKeywords, FaultPathEventSource.Log),
    ];

    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"folios-report-{Environment.ProcessId}-{Guid.NewGuid():N}");

    /// <summary>The workload's trace.</summary>
    public string TracePath => Path.Combine(_directory, "workload.nettrace");

    /// <summary>A trace of a session with no provider that wrote anything.</summary>
    public string EmptySessionPath => Path.Combine(_directory, "no-events.nettrace");

    /// <summary>A folder the tests may write into; removed at the end.</summary>
    public string Directory => _directory;

    /// <summary>The workload's arena.</summary>
    public int ArenaId { get; private set; }

    /// <summary>Folios the arena handed out while the session listened.</summary>
    public long Allocations { get; private set; }

    /// <summary>Folios freed into the arena while the session listened.</summary>
    public long Frees { get; private set; }

    /// <summary>The machine's pgfault count: every fault.</summary>
    public long Faults { get; private set; }

    /// <summary>anon_fault_alloc of order 4 (64 KiB), order 2 (16 KiB) and order 9 (the PMD).</summary>
    public (long Order4, long Order2, long Order9) AnonFaultAlloc { get; private set; }

    /// <summary>The mTHP split counter of order 4: the shrinker's split and the debugfs ones.</summary>
    public long SplitsOfOrder4 { get; private set; }

    /// <summary>What the debugfs-style uniform split of one 64K folio to order 0 returned: folios split.</summary>
    public int UniformSplits { get; private set; }

    /// <summary>
    /// What the non-uniform split around page 3 returned: the walk asks again at every page, so
    /// the order-3 and order-2 pieces each new split leaves are split too.
    /// </summary>
    public int NonUniformSplits { get; private set; }

    /// <summary>The order of the anonymous folio the arena refused to split to order 1 (the arena's own refusal, not the fault path's).</summary>
    public const int ArenaRefusedOrder = 3;

    /// <summary>The mTHP split counter over every order.</summary>
    public long SplitsOfAnyOrder { get; private set; }

    /// <summary>Free blocks per order at the last snapshot.</summary>
    public long[] LastFreeBlocks { get; private set; } = [];

    public async Task InitializeAsync()
    {
        System.IO.Directory.CreateDirectory(_directory);
        await RecordAsync(TracePath, s_libraryProviders, RunWorkload);
        await RecordAsync(EmptySessionPath, [(Name: "LargeFolios-NoSuchProvider", Keywords: (EventKeywords)(-1), Source: null)], () => { });
    }


    public Task DisposeAsync()
    {
        System.IO.Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    private static async Task RecordAsync(string path, (string Name, EventKeywords Keywords, EventSource? Source)[] providers, Action workload)
    {
        await using FileStream file = File.Create(path);
        using EventPipeSession session = new DiagnosticsClient(Environment.ProcessId).StartEventPipeSession(
            providers.Select(provider => new EventPipeProvider(provider.Name, EventLevel.Verbose, (long)provider.Keywords)), requestRundown: false);
        Task copy = session.EventStream.CopyToAsync(file);
        foreach ((string name, _, EventSource? source) in providers)
        {
            if (source is not null)
                Assert.True(SpinWait.SpinUntil(source.IsEnabled, TimeSpan.FromSeconds(10)), $"the session never enabled {name}");
        }

        workload();
        await session.StopAsync(CancellationToken.None);
        await copy;
    }

    private void RunWorkload()
    {
        using var arena = new Arena(64L << 20, options: new ArenaOptions { MetadataOnly = true });
        ArenaId = arena.Id;
        arena.TraceFreeAreas();   // the free areas before: the session began before the arena
        long allocationsBefore = arena.Allocations, freesBefore = arena.Frees;
        using (var machine = new Machine(arena))
        {
            using (AddressSpace mm = machine.CreateAddressSpace())
            {
                machine.Policy.SetSizeEnabled(4, ThpSizeEnabled.Always);
                machine.Policy.SetSizeEnabled(9, ThpSizeEnabled.Never);
                mm.Mmap(MthpRegion, 4 * MiB);
                for (ulong offset = 0; offset < 512 * KiB; offset += Page)
                    mm.Write(MthpRegion + offset);                  // 8 faults of order 4
                mm.Read(MthpRegion + MiB);                          // the zero page

                machine.Policy.SetSizeEnabled(4, ThpSizeEnabled.Never);
                machine.Policy.SetSizeEnabled(2, ThpSizeEnabled.Always);
                mm.Mmap(SmallRegion, 64 * KiB);
                for (ulong offset = 0; offset < 64 * KiB; offset += 16 * KiB)
                    mm.Write(SmallRegion + offset);                 // 4 faults of order 2

                machine.Policy.SetSizeEnabled(9, ThpSizeEnabled.Always);
                mm.Mmap(PmdRegion, 2 * MiB);
                mm.Write(PmdRegion);                                // 1 PMD fault of order 9

                mm.Madvise(MthpRegion, 32 * KiB, MadviseAdvice.DontNeed);              // half a 64K folio: queued
                machine.ShrinkDeferredSplit();                                          // split to order 0
                UniformSplits = mm.SplitFolios(MthpRegion + 64 * KiB, 64 * KiB, 0);                      // uniform
                NonUniformSplits = mm.SplitFolios(MthpRegion + 128 * KiB, 64 * KiB, 0, inFolioOffset: 3);  // non-uniform
                mm.SplitFolios(MthpRegion + 192 * KiB, 64 * KiB, 1);                    // refused: order 1, page by page
                mm.Munmap(MthpRegion + 256 * KiB, 256 * KiB);                          // four 64K folios

                Faults = machine.Events.Get(VmEvent.PgFault);
                AnonFaultAlloc = (machine.MthpStats.Get(4, MthpStatItem.AnonFaultAlloc), machine.MthpStats.Get(2, MthpStatItem.AnonFaultAlloc),
                    machine.MthpStats.Get(9, MthpStatItem.AnonFaultAlloc));
                SplitsOfOrder4 = machine.MthpStats.Get(4, MthpStatItem.Split);
                SplitsOfAnyOrder = machine.MthpStats.NonZero().Where(stat => stat.Item == MthpStatItem.Split).Sum(stat => stat.Value);
            }
        }

        // The arena's own refusal: the fault path refuses order 1 before it asks (the 16 above), so
        // only a caller of the arena's split meets this one.
        Folio anonymous = arena.Allocate(ArenaRefusedOrder, FolioKind.Anonymous);
        Assert.Throws<OrderOneFolioException>(() => arena.SplitUniform(anonymous, 1));
        arena.Free(anonymous);

        arena.DrainPerCpuCaches();
        arena.TraceFreeAreas();
        LastFreeBlocks = arena.GetBuddyInfo().FreeBlocksPerOrder.ToArray();
        Allocations = arena.Allocations - allocationsBefore;
        Frees = arena.Frees - freesBefore;
    }
}
