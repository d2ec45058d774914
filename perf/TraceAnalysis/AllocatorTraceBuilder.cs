using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using Microsoft.Diagnostics.Tracing;
using Ids = LargeFolios.BuddyAllocator.LargeFoliosEventSource.EventIds;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// Folds the provider's events, one at a time and in trace order, into an <see cref="AllocatorTrace"/>.
/// Fields are read by name from the trace's own metadata; events are told apart by id, which the
/// provider keeps stable across versions.
/// </summary>
internal sealed class AllocatorTraceBuilder
{
    // The provider's names for its ids, from the same constants it writes with.
    private static readonly Dictionary<int, string> s_eventNames = typeof(Ids)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(field => field.IsLiteral && field.FieldType == typeof(int))
        .ToDictionary(field => (int)field.GetRawConstantValue()!, field => field.Name);

    // EventSource's self-description, sent with the events in a manifest-format provider.
    private const int ManifestEventId = 0xFFFE;

    // EventSource's EventSourceMessage: errors the provider reports about itself.
    private const int MessageEventId = 0;

    private readonly string _path;
    private readonly int? _arenaFilter;
    private readonly SortedSet<int> _arenas = [];
    private readonly Tally<string> _eventsByName = new();
    private readonly AllocationStats _allocations = new();
    private readonly PerCpuCacheStats _perCpu = new();
    private readonly FaultStats _faults = new();
    private readonly SplitStats _splits = new();
    private readonly PageTableStats _pageTables = new();
    private readonly MappingStats _mappings = new();
    private readonly Dictionary<(int ArenaId, long Number), (double TimeMs, SortedDictionary<int, long> FreeBlocks)> _snapshots = [];
    private readonly List<string> _providerMessages = [];
    private double _startMs = double.NaN;
    private double _endMs = double.NaN;

    /// <summary>Starts an empty trace for <paramref name="path"/>, narrowed to <paramref name="arenaFilter"/> when given.</summary>
    public AllocatorTraceBuilder(string path, int? arenaFilter)
    {
        _path = path;
        _arenaFilter = arenaFilter;
    }

    /// <summary>Takes one event of any provider; only <see cref="LargeFoliosEventSource.ProviderName"/>'s count.</summary>
    public void Add(TraceEvent data)
    {
        if (data.ProviderName != LargeFoliosEventSource.ProviderName)
            return;

        int id = (int)data.ID;
        if (id == ManifestEventId)
            return;
        if (id == MessageEventId)
        {
            // EventSource's own channel: "ERROR: Exception in Command Processing..." when the
            // provider failed to enable, which would otherwise look like an idle workload.
            _providerMessages.Add(data.PayloadByName("message") as string ?? data.FormattedMessage ?? "(no message)");
            return;
        }

        // Every event of the provider names its arena; one newer than this reader may not.
        int? arenaId = s_eventNames.ContainsKey(id) || data.PayloadIndex("arenaId") >= 0 ? data.Int32("arenaId") : null;
        if (arenaId is int arena)
            _arenas.Add(arena);
        if (_arenaFilter is int only && arenaId != only)
            return;

        double timeMs = data.TimeStampRelativeMSec;
        if (double.IsNaN(_startMs))
            _startMs = timeMs;
        _endMs = timeMs;
        _eventsByName.Add(s_eventNames.GetValueOrDefault(id) ?? data.EventName);
        Fold(id, data, arenaId ?? 0, timeMs);
    }

    /// <summary>The trace so far, with warnings for <paramref name="eventsLost"/>, <paramref name="doubt"/> and anything else amiss.</summary>
    public AllocatorTrace Build(long eventsLost, string? doubt = null) => new()
    {
        Path = _path,
        ArenaFilter = _arenaFilter,
        Arenas = _arenas,
        StartMs = double.IsNaN(_startMs) ? 0 : _startMs,
        EndMs = double.IsNaN(_endMs) ? 0 : _endMs,
        EventsByName = _eventsByName,
        Allocations = _allocations,
        PerCpuCaches = _perCpu,
        Faults = _faults,
        Splits = _splits,
        PageTables = _pageTables,
        Mappings = _mappings,
        FreeAreas = _snapshots
            .Select(pair => new FreeAreaSnapshot(pair.Key.ArenaId, pair.Key.Number, pair.Value.TimeMs, pair.Value.FreeBlocks))
            .OrderBy(snapshot => snapshot.TimeMs).ThenBy(snapshot => snapshot.Number)
            .ToList(),
        Warnings = Warnings(eventsLost, doubt),
    };

    private void Fold(int id, TraceEvent data, int arenaId, double timeMs)
    {
        switch (id)
        {
            case Ids.FolioAllocated:
                int order = data.Order("order");
                _allocations.AllocatedByOrder.Add(order);
                _allocations.Timeline.Add(timeMs, order);
                _perCpu.Allocations++;
                if (data.Flag("fromPerCpuCache"))
                    _perCpu.AllocationHits++;
                break;
            case Ids.FolioFreed:
                _allocations.FreedByOrder.Add(data.Order("order"));
                _perCpu.Frees++;
                if (data.Flag("toPerCpuCache"))
                    _perCpu.FreeHits++;
                break;
            case Ids.AllocationFailed:
                _allocations.FailedByOrder.Add(data.Order("order"));
                break;
            case Ids.BuddyBlockSplit:
                _allocations.BlockSplits++;
                break;
            case Ids.BuddyBlockMerged:
                _allocations.BlockMerges++;
                break;
            case Ids.BuddyFreeArea:
                AddFreeArea(arenaId, data.Int64("snapshot"), timeMs, data.Order("order"), data.Int64("freeBlocks"));
                break;
            case Ids.PerCpuRefill:
                _perCpu.Refills++;
                _perCpu.RefilledBlocks += data.Int64("blocks");
                break;
            case Ids.PerCpuDrain:
                _perCpu.Drains++;
                _perCpu.DrainedPages += data.Int64("pages");
                break;
            case Ids.FolioSplit:
                _splits.ByOrders.Add((data.Order("oldOrder"), data.Order("newOrder")));
                _splits.FoliosProduced += data.Int64("folios");
                if (data.Flag("uniform"))
                    _splits.Uniform++;
                else
                    _splits.NonUniform++;
                break;
            case Ids.FolioSplitRefused:
                _splits.Refusals.Add((FolioSplitRefusal)data.Int32("reason"));
                break;
            case Ids.DeferredSplitQueued:
                _splits.DeferredQueued++;
                if (data.Flag("partiallyMapped"))
                    _splits.DeferredQueuedPartiallyMapped++;
                break;
            case Ids.DeferredSplitScan:
                _splits.DeferredScans++;
                _splits.DeferredScanned += data.Int64("scanned");
                _splits.DeferredSplit += data.Int64("split");
                _splits.DeferredRequeued += data.Int64("requeued");
                _splits.DeferredQueueLength = data.Int64("queueLength");
                break;
            case Ids.PageTableAllocated:
                _pageTables.Allocated++;
                _pageTables.PeakTablePages = Math.Max(_pageTables.PeakTablePages, data.Int64("tablePages"));
                break;
            case Ids.PageTableFreed:
                _pageTables.Freed++;
                break;
            case Ids.PmdSplit:
                if (data.Int32("kind") == 0)
                    _pageTables.PmdSplitsOfThp++;
                else
                    _pageTables.PmdSplitsOfHugeZeroPage++;
                break;
            case Ids.FaultStart:
                if (data.Flag("write"))
                    _faults.WriteFaults++;
                else
                    _faults.ReadFaults++;
                _faults.Pairs.Start(data.ThreadID, arenaId, data.Int32("spaceId"), data.UInt64("address"), timeMs);
                break;
            case Ids.FaultStop:
                var kind = (FaultKind)data.Int32("kind");
                int mapped = data.Order("order");
                _faults.ByKind.Add(kind);
                _faults.ByKindAndOrder.Add((kind, mapped));
                _faults.Pairs.Stop(data.ThreadID, arenaId, data.Int32("spaceId"), data.UInt64("address"), timeMs, kind, mapped);
                break;
            case Ids.FaultFallback:
                _faults.FallbacksByOrder.Add(data.Order("order"));
                break;
            case Ids.Mmap:
                _mappings.Mmaps++;
                _mappings.MmapBytes += data.UInt64("length");
                break;
            case Ids.Munmap:
                _mappings.Munmaps++;
                _mappings.MunmapBytes += data.UInt64("length");
                _mappings.MunmapPagesZapped += data.Int64("pagesZapped");
                break;
            case Ids.Madvise:
                var advice = (MadviseAdvice)data.Int32("advice");
                _mappings.MadviseCalls.Add(advice);
                _mappings.MadvisePagesZapped.Add(advice, data.Int64("pagesZapped"));
                break;
            default:
                break;   // an event newer than this reader: counted by name above, nothing more to say
        }
    }

    private void AddFreeArea(int arenaId, long number, double timeMs, int order, long freeBlocks)
    {
        if (!_snapshots.TryGetValue((arenaId, number), out var snapshot))
        {
            snapshot = (timeMs, new SortedDictionary<int, long>());
            _snapshots.Add((arenaId, number), snapshot);
        }

        snapshot.FreeBlocks[order] = freeBlocks;
    }

    private List<string> Warnings(long eventsLost, string? doubt)
    {
        var warnings = new List<string>();
        if (doubt is not null)
            warnings.Add(doubt);
        if (eventsLost > 0)
            warnings.Add($"the session lost {eventsLost} events (its buffers overflowed): every count below is a lower bound");
        foreach (string message in _providerMessages.Distinct())
            warnings.Add($"{LargeFoliosEventSource.ProviderName} reported: {message}");
        if (_arenas.Count == 0)
            warnings.Add($"no {LargeFoliosEventSource.ProviderName} events: was the provider enabled (--providers {LargeFoliosEventSource.ProviderName}:0x3F:5)?");
        else if (_arenaFilter is int only && !_arenas.Contains(only))
            warnings.Add($"no events from arena {only}; the trace has arena{(_arenas.Count == 1 ? "" : "s")} {string.Join(", ", _arenas)}");
        return warnings;
    }
}
