using System.Collections.Generic;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// What a <c>.nettrace</c> of the library's providers (<c>LargeFolios-Allocator</c>,
/// <c>LargeFolios-PageTables</c>, <c>LargeFolios-FaultPath</c>) says, aggregated: events by type, folios by order and over time, faults and their latencies, splits, page tables, mappings,
/// and the buddy allocator's free areas at each snapshot. <see cref="Load"/> reads one; the report
/// and the plot only read this.
/// </summary>
internal sealed class AllocatorTrace
{
    /// <summary>The file, as the user named it.</summary>
    public required string Path { get; init; }

    /// <summary>The one arena this trace was narrowed to, or null for all of them.</summary>
    public int? ArenaFilter { get; init; }

    /// <summary>Every arena id that wrote an event, before any narrowing.</summary>
    public required IReadOnlyCollection<int> Arenas { get; init; }

    /// <summary>When the first counted event was written, in milliseconds from the session's start; 0 without events.</summary>
    public double StartMs { get; init; }

    /// <summary>When the last counted event was written.</summary>
    public double EndMs { get; init; }

    /// <summary>The providers' events counted, by provider and event name (LargeFolios-FaultPath, FaultStart): two providers may name an event alike.</summary>
    public required Tally<(string Provider, string Event)> EventsByName { get; init; }

    /// <summary>Folios allocated and freed, per order and over time; failures; buddy splits and merges.</summary>
    public required AllocationStats Allocations { get; init; }

    /// <summary>The per-CPU caches' share of allocations and frees, refills and drains.</summary>
    public required PerCpuCacheStats PerCpuCaches { get; init; }

    /// <summary>Faults by kind and order, fallbacks, latencies.</summary>
    public required FaultStats Faults { get; init; }

    /// <summary>Folio splits, refusals, the deferred-split queue.</summary>
    public required SplitStats Splits { get; init; }

    /// <summary>Page-table pages and PMD splits.</summary>
    public required PageTableStats PageTables { get; init; }

    /// <summary>mmap, munmap and madvise.</summary>
    public required MappingStats Mappings { get; init; }

    /// <summary>Every free-area snapshot, in time order.</summary>
    public required IReadOnlyList<FreeAreaSnapshot> FreeAreas { get; init; }

    /// <summary>
    /// What the reader of the report must know before trusting it: events the session lost, errors
    /// a provider itself reported, a trace without any of the providers' events. Empty when all is well.
    /// </summary>
    public required IReadOnlyList<string> Warnings { get; init; }

    /// <summary>The span the counted events cover, in milliseconds.</summary>
    public double DurationMs => EndMs - StartMs;

    /// <summary>Reads <paramref name="path"/>, keeping only <paramref name="arenaId"/>'s events when one is given.</summary>
    /// <exception cref="TraceFileException">The file is missing, empty, not a nettrace, truncated or corrupt.</exception>
    public static AllocatorTrace Load(string path, int? arenaId = null) => AllocatorTraceReader.Read(path, arenaId);
}
