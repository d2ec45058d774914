using System;
using System.Diagnostics.Tracing;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using Microsoft.Diagnostics.NETCore.Client;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// Two real traces, made once for the <see cref="ReportEventPipeCollection"/>: one of a small
/// workload whose every effect is known and recorded here from the allocator's own counters, and
/// one of a session that saw none of the provider's events.
/// </summary>
public sealed class ReportTraceFixture : IAsyncLifetime
{
    private const ulong KiB = 1024, MiB = 1024 * KiB, Page = 4 * KiB;

    // 1 GiB-aligned user addresses, as the scenarios use: one region per policy.
    private const ulong MthpRegion = 0x4000_0000, SmallRegion = 0x8000_0000, PmdRegion = 0xC000_0000;

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

    /// <summary>The mTHP split counter over every order.</summary>
    public long SplitsOfAnyOrder { get; private set; }

    /// <summary>Free blocks per order at the last snapshot.</summary>
    public long[] LastFreeBlocks { get; private set; } = [];

    public async Task InitializeAsync()
    {
        System.IO.Directory.CreateDirectory(_directory);
        await RecordAsync(TracePath, LargeFoliosEventSource.ProviderName, RunWorkload);
        await RecordAsync(EmptySessionPath, "LargeFolios-NoSuchProvider", () => { });
    }

    public Task DisposeAsync()
    {
        System.IO.Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    private static async Task RecordAsync(string path, string provider, Action workload)
    {
        var providers = new[] { new EventPipeProvider(provider, EventLevel.Verbose, (long)LargeFoliosEventSource.AllKeywords) };
        await using FileStream file = File.Create(path);
        using EventPipeSession session = new DiagnosticsClient(Environment.ProcessId).StartEventPipeSession(providers, requestRundown: false);
        Task copy = session.EventStream.CopyToAsync(file);
        if (provider == LargeFoliosEventSource.ProviderName)
            Assert.True(SpinWait.SpinUntil(() => LargeFoliosEventSource.Log.IsEnabled(), TimeSpan.FromSeconds(10)), "the session never enabled the provider");
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

        arena.DrainPerCpuCaches();
        arena.TraceFreeAreas();
        LastFreeBlocks = arena.GetBuddyInfo().FreeBlocksPerOrder.ToArray();
        Allocations = arena.Allocations - allocationsBefore;
        Frees = arena.Frees - freesBefore;
    }
}
