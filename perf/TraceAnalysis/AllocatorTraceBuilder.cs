using System;
using System.Collections.Generic;
using System.Linq;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;
using Microsoft.Diagnostics.Tracing;
using AllocatorFields = LargeFolios.BuddyAllocator.AllocatorEventSource.Fields;
using AllocatorIds = LargeFolios.BuddyAllocator.AllocatorEventSource.EventIds;
using FaultPathFields = LargeFolios.FaultPath.FaultPathEventSource.Fields;
using FaultPathIds = LargeFolios.FaultPath.FaultPathEventSource.EventIds;
using PageTableFields = LargeFolios.PageTables.PageTableEventSource.Fields;
using PageTableIds = LargeFolios.PageTables.PageTableEventSource.EventIds;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// Folds the library's events (<see cref="TraceProviders"/>), one at a time and in trace order,
/// into an <see cref="AllocatorTrace"/>. Fields are read by name from the trace's own metadata,
/// through each provider's <c>Fields</c> constants; events are told apart by provider and id, which
/// each provider keeps stable across versions.
/// </summary>
internal sealed class AllocatorTraceBuilder
{
    // EventSource's self-description, sent with the events in a manifest-format provider.
    private const int ManifestEventId = 0xFFFE;

    // The providers' own messages shown, and how much of each: a trace is anyone's file.
    private const int MaxMessagesShown = 5;
    private const int MaxMessageShown = 200;

    // EventSource's EventSourceMessage: errors the provider reports about itself.
    private const int MessageEventId = 0;

    // EventSourceMessage's one field; EventSource names it, not the library.
    private const string MessageField = "message";

    private readonly string _path;
    private readonly int? _arenaFilter;
    private readonly SortedSet<int> _arenas = [];
    private readonly Tally<(string Provider, string Event)> _eventsByName = new();
    private readonly AllocationStats _allocations = new();
    private readonly PerCpuCacheStats _perCpu = new();
    private readonly FaultStats _faults = new();
    private readonly SplitStats _splits = new();
    private readonly PageTableStats _pageTables = new();
    private readonly MappingStats _mappings = new();
    private readonly Dictionary<(int ArenaId, long Number), (double TimeMs, SortedDictionary<int, long> FreeBlocks)> _snapshots = [];
    private readonly HashSet<(string Provider, string Message)> _providerMessages = [];
    private double _startMs = double.NaN;
    private double _endMs = double.NaN;

    /// <summary>Starts an empty trace for <paramref name="path"/>, narrowed to <paramref name="arenaFilter"/> when given.</summary>
    public AllocatorTraceBuilder(string path, int? arenaFilter)
    {
        _path = path;
        _arenaFilter = arenaFilter;
    }

    /// <summary>Takes one event of any provider; only the library's providers' count.</summary>
    public void Add(TraceEvent data)
    {
        string provider = data.ProviderName;
        if (!TraceProviders.IsLibraryProvider(provider))
            return;

        int id = (int)data.ID;
        if (id == ManifestEventId)
            return;
        if (id == MessageEventId)
        {
            // EventSource's own channel: "ERROR: Exception in Command Processing..." when the
            // provider failed to enable, which would otherwise look like an idle workload.
            // Kept as the report will show them, so a trace of a million distinct messages costs a
            // million short strings at most, and shows a few.
            string message = data.PayloadByName(MessageField) as string ?? data.FormattedMessage ?? "(no message)";
            _providerMessages.Add((provider, EchoedText.Quote(message, MaxMessageShown)));
            return;
        }

        // Every event of the three providers names its arena; one newer than this reader may not.
        string? name = TraceProviders.EventName(provider, id);
        string arenaField = ArenaIdField(provider);
        int? arenaId = name is not null || data.PayloadIndex(arenaField) >= 0 ? data.Int32(arenaField) : null;
        if (arenaId is int arena)
            _arenas.Add(arena);
        if (_arenaFilter is int only && arenaId != only)
            return;

        double timeMs = data.TimeStampRelativeMSec;
        if (double.IsNaN(_startMs))
            _startMs = timeMs;
        _endMs = timeMs;
        _eventsByName.Add((provider, name ?? $"event {id}"));   // not the trace's own name for it: any text at all
        switch (provider)
        {
            case AllocatorEventSource.ProviderName:
                FoldAllocator(id, data, arenaId ?? 0, timeMs);
                break;
            case PageTableEventSource.ProviderName:
                FoldPageTables(id, data);
                break;
            case FaultPathEventSource.ProviderName:
                FoldFaultPath(id, data, arenaId ?? 0, timeMs);
                break;
        }
    }

    /// <summary>The trace so far, with warnings for <paramref name="eventsLost"/> and anything else amiss.</summary>
    public AllocatorTrace Build(long eventsLost) => new()
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
        Warnings = Warnings(eventsLost),
    };

    private static string ArenaIdField(string provider) => provider switch
    {
        PageTableEventSource.ProviderName => PageTableFields.ArenaId,
        FaultPathEventSource.ProviderName => FaultPathFields.ArenaId,
        _ => AllocatorFields.ArenaId,
    };

    private void FoldAllocator(int id, TraceEvent data, int arenaId, double timeMs)
    {
        switch (id)
        {
            case AllocatorIds.FolioAllocated:
                int order = data.Order(AllocatorFields.Order);
                _allocations.AllocatedByOrder.Add(order);
                _allocations.Timeline.Add(timeMs, order);
                _perCpu.Allocations++;
                if (data.Flag(AllocatorFields.FromPerCpuCache))
                    _perCpu.AllocationHits++;
                break;
            case AllocatorIds.FolioFreed:
                _allocations.FreedByOrder.Add(data.Order(AllocatorFields.Order));
                _perCpu.Frees++;
                if (data.Flag(AllocatorFields.ToPerCpuCache))
                    _perCpu.FreeHits++;
                break;
            case AllocatorIds.AllocationFailed:
                _allocations.FailedByOrder.Add(data.Order(AllocatorFields.Order));
                break;
            case AllocatorIds.BuddyBlockSplit:
                _allocations.BlockSplits++;
                break;
            case AllocatorIds.BuddyBlockMerged:
                _allocations.BlockMerges++;
                break;
            case AllocatorIds.BuddyFreeArea:
                AddFreeArea(arenaId, data.Int64(AllocatorFields.Snapshot), timeMs, data.Order(AllocatorFields.Order), data.Int64(AllocatorFields.FreeBlocks));
                break;
            case AllocatorIds.PerCpuRefill:
                _perCpu.Refills++;
                _perCpu.RefilledBlocks += data.Int64(AllocatorFields.Blocks);
                break;
            case AllocatorIds.PerCpuDrain:
                _perCpu.Drains++;
                _perCpu.DrainedPages += data.Int64(AllocatorFields.Pages);
                break;
            case AllocatorIds.FolioSplit:
                _splits.ByOrders.Add((data.Order(AllocatorFields.OldOrder), data.Order(AllocatorFields.NewOrder)));
                _splits.FoliosProduced += data.Int64(AllocatorFields.Folios);
                if (data.Flag(AllocatorFields.Uniform))
                    _splits.Uniform++;
                else
                    _splits.NonUniform++;
                break;
            case AllocatorIds.FolioSplitRefused:
                _splits.ArenaOrderOneRefusals++;   // the one split the arena itself refuses: an anonymous folio to order 1
                break;
            default:
                break;   // an event newer than this reader: counted by name, nothing more to say
        }
    }

    private void FoldPageTables(int id, TraceEvent data)
    {
        switch (id)
        {
            case PageTableIds.PageTableAllocated:
                _pageTables.Allocated++;
                _pageTables.PeakTablePages = Math.Max(_pageTables.PeakTablePages, data.Int64(PageTableFields.TablePages));
                break;
            case PageTableIds.PageTableFreed:
                _pageTables.Freed++;
                break;
            case PageTableIds.PmdSplit:
                if (data.EnumValue<PmdSplitKind>(PageTableFields.Kind) == PmdSplitKind.Folio)
                    _pageTables.PmdSplitsOfThp++;
                else
                    _pageTables.PmdSplitsOfHugeZeroPage++;
                break;
            default:
                break;   // an event newer than this reader: counted by name, nothing more to say
        }
    }

    private void FoldFaultPath(int id, TraceEvent data, int arenaId, double timeMs)
    {
        switch (id)
        {
            case FaultPathIds.FolioSplitRefused:
                _splits.Refusals.Add(data.EnumValue<FolioSplitRefusal>(FaultPathFields.Reason));
                break;
            case FaultPathIds.DeferredSplitQueued:
                _splits.DeferredQueued++;
                if (data.Flag(FaultPathFields.PartiallyMapped))
                    _splits.DeferredQueuedPartiallyMapped++;
                break;
            case FaultPathIds.DeferredSplitScan:
                _splits.DeferredScans++;
                _splits.DeferredScanned += data.Int64(FaultPathFields.Scanned);
                _splits.DeferredSplit += data.Int64(FaultPathFields.Split);
                _splits.DeferredRequeued += data.Int64(FaultPathFields.Requeued);
                _splits.DeferredQueueLength = data.Int64(FaultPathFields.QueueLength);
                break;
            case FaultPathIds.FaultStart:
                if (data.EnumValue<FaultAccess>(FaultPathFields.Access) == FaultAccess.Write)
                    _faults.WriteFaults++;
                else
                    _faults.ReadFaults++;
                _faults.Pairs.Start(data.ThreadID, arenaId, data.Int32(FaultPathFields.SpaceId), data.UInt64(FaultPathFields.Address), timeMs);
                break;
            case FaultPathIds.FaultStop:
                FaultKind kind = data.EnumValue<FaultKind>(FaultPathFields.Kind);
                int mapped = data.Order(FaultPathFields.Order);
                _faults.ByKind.Add(kind);
                _faults.ByKindAndOrder.Add((kind, mapped));
                _faults.Pairs.Stop(data.ThreadID, arenaId, data.Int32(FaultPathFields.SpaceId), data.UInt64(FaultPathFields.Address), timeMs, kind, mapped);
                break;
            case FaultPathIds.FaultFallback:
                _faults.FallbacksByOrder.Add(data.Order(FaultPathFields.Order));
                break;
            case FaultPathIds.Mmap:
                long length = data.Int64(FaultPathFields.Length);   // no mapping spans 2^63 bytes: a longer one is damage
                VmaFlags protection = data.EnumValue<VmaFlags>(FaultPathFields.Protection);
                _mappings.Mmaps++;
                _mappings.MmapBytes += (ulong)length;
                _mappings.MmapsByProtection.Add(protection);
                _mappings.MmapBytesByProtection.Add(protection, length);
                break;
            case FaultPathIds.Munmap:
                _mappings.Munmaps++;
                _mappings.MunmapBytes += data.UInt64(FaultPathFields.Length);
                _mappings.MunmapPagesZapped += data.Int64(FaultPathFields.PagesZapped);
                break;
            case FaultPathIds.Madvise:
                MadviseAdvice advice = data.EnumValue<MadviseAdvice>(FaultPathFields.Advice);
                _mappings.MadviseCalls.Add(advice);
                _mappings.MadvisePagesZapped.Add(advice, data.Int64(FaultPathFields.PagesZapped));
                break;
            default:
                break;   // an event newer than this reader: counted by name, nothing more to say
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

    private List<string> Warnings(long eventsLost)
    {
        var warnings = new List<string>();
        if (eventsLost > 0)
            warnings.Add($"the session lost {eventsLost} events (its buffers overflowed): every count below is a lower bound");
        foreach ((string provider, string message) in _providerMessages.Take(MaxMessagesShown))
            warnings.Add($"{provider} reported: {message}");
        if (_providerMessages.Count > MaxMessagesShown)
            warnings.Add($"and {_providerMessages.Count - MaxMessagesShown} more distinct messages of the providers");
        if (_arenas.Count == 0)
            warnings.Add($"no events of {string.Join(", ", TraceProviders.Names)}: were the providers enabled (--providers {TraceProviders.DotnetTraceArgument})?");
        else if (_arenaFilter is int only && !_arenas.Contains(only))
            warnings.Add($"no events from arena {only}; the trace has arena{(_arenas.Count == 1 ? "" : "s")} {string.Join(", ", _arenas)}");
        return warnings;
    }
}
